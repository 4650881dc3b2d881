"""The dataset contract. Installed as an extension it comes from the bundled wheel (manifest `wheels`),
which Blender installs into the extension's site-packages; in a checkout, from the repository."""

import shared_schemas as schemas

__all__ = ["schemas"]
