"""The dataset contract: the vendored copy inside the installed extension, else the repository's package."""

try:  # installed extension zip: shared_schemas is bundled as a subpackage
    from ._vendor import shared_schemas as schemas
except ImportError:  # repository checkout / editable install
    import shared_schemas as schemas

__all__ = ["schemas"]
