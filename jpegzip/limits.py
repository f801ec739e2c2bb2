"""The default limits on what one input may make jpegzip allocate (options.py explains
them). A module of its own, below everything, so that the JPEG layer's default bound and
the options' default are one number without the JPEG layer importing the options."""

MAX_INPUT_BYTES = 256 << 20
MAX_COEFFICIENTS = 1 << 28
