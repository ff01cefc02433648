"""`python -m services.enrich`: the enrich stage (same as `platestream enrich`)."""

from services.enrich.cli import app

if __name__ == "__main__":
    app()
