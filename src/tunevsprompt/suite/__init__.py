"""The suite file: its pydantic model, the YAML loader with located errors, and the JSON
schema for editors."""
