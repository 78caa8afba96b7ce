"""The synthetic actor: a procedural 2D human with ground-truth BlazePose keypoints.

`body` holds proportions, forward kinematics and the pinhole camera, `motions` the
procedural dances, `appearance` the looks of the built-in actors, `render` the drawing,
`room` the room behind them, `framing` the camera framings (frame size and aspect,
whole body, desk, zoom, where the actor stands), `scene` the actors posed and drawn in
depth order, `retarget` the transfer of foreign keypoints onto an actor, `clip` the
assembly into files.
"""
