from scribe.cli import app

app()
