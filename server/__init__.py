"""The WebRTC server: the browser sends its camera, gets the avatar back on the same
connection.

`server.app` serves the page and the signalling (`POST /offer`), statistics and
controls over aiohttp; `server.session` runs one aiortc peer connection and one live
pipeline per browser; `server.tracks` adapts aiortc's media tracks to the pipeline;
`server.framecode` marks frames so the page can measure glass-to-glass latency.
"""
