"""Whether a location is a URI (gs://, s3://, http://, sqlite://) or a local path: one rule, in a
module that imports nothing, so the command line can apply it before anything heavy loads."""


def is_uri(location: str) -> bool:
    """A bucket or other remote URI (gs://, s3://) rather than a local path."""
    return "://" in str(location)
