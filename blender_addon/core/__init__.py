"""Pure logic of the add-on (no bpy): Algorithm-1 reference, sample specs, camera geometry, masks."""
