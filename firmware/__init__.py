"""The mrig app: camera service, capture, web API and UI, command line."""
