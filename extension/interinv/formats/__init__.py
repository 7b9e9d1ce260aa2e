"""On-disk formats: model families and ModelSpec ids, embedding files, the manifest, interaction.json and
stage1.json, file hashes, PNG infotext."""
