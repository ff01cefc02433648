"""`python -m services.detect`: run the detect stage (same as `platestream detect`)."""

from services.detect.cli import run

if __name__ == "__main__":
    run()
