"""The synthetic actor: a procedural 2D human with ground-truth BlazePose keypoints.

`body` holds proportions and forward kinematics, `motions` the procedural dances,
`appearance` the looks of the built-in actors, `render` the drawing, `retarget` the
transfer of foreign keypoints onto an actor, `clip` the assembly into files.
"""
