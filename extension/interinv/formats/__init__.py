"""On-disk formats: model families and ModelSpec ids, embedding files, the manifest, PNG infotext."""
