"""Pure logic of the add-on (no bpy): names, options -> settings, render plan, sample specs, camera and
light geometry, defects, the Algorithm-1 reference, masks, errors."""
