"""The stand-in WebUI that the WebUI tests run on: A1111's, or Forge's in a pytest run with INTERINV_WEBUI=forge (one
process holds one WebUI's `modules`). Both give `boot`, the `webui` and `demo` fixtures, `host` (InterInv's host on
the loaded checkpoint), `prompt_words()` (the database the prompt tokenizer reads embeddings from) and
`NO_PREPROCESSOR` (how the WebUI's ControlNet names "no preprocessor")."""

import os

FORGE = os.environ.get("INTERINV_WEBUI") == "forge"

if FORGE:
    import forge_standin  # noqa: F401  (puts the Forge stand-in's `modules` and `backend` on sys.path)
    from forge_webui import boot, demo, webui  # noqa: F401  (fixtures)
    from forge_webui import forge_host as host

    NO_PREPROCESSOR = "None"

    def prompt_words():
        from modules import shared

        return shared.sd_model.text_processing_engine.embeddings.word_embeddings
else:
    import a1111_standin  # noqa: F401  (puts the A1111 stand-in's `modules` on sys.path)
    from standin import a1111_host as host  # noqa: F401
    from standin import boot, demo, webui  # noqa: F401  (fixtures)

    NO_PREPROCESSOR = "none"

    def prompt_words():
        from modules import sd_hijack

        return sd_hijack.model_hijack.embedding_db.word_embeddings
