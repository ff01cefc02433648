"""`python -m services.ingest [serve|camera|dahua|mqtt|file]`: the same as `platestream ingest`."""

from services.ingest.cli import app

if __name__ == "__main__":
    app(prog_name="platestream ingest")
