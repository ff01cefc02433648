"""`python -m services.investigate`: the live clone detector (same as `platestream anomalies`)."""

from services.investigate.cli import app

if __name__ == "__main__":
    app()
