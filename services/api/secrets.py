"""Camera credentials as secrets (the store now lives in ``platestream.secrets``, shared with the
ingest camera manager that reads them)."""

from platestream.secrets import SecretStore, camera_secret_name

__all__ = ["SecretStore", "camera_secret_name"]
