"""SeqCore Blender extension. register()/unregister() only (filled by the add-on issue)."""
