"""A1111 calls preload(parser) before parsing the command line."""


def preload(parser):
    parser.add_argument("--interinv-cache-dir", type=str, default=None,
                        help="InterInv: folder for training tasks, resumable state and cached latents "
                             "(default: <data dir>/interinv)")
    parser.add_argument("--interinv-annotator-dir", type=str, default=None,
                        help="InterInv: folder with controlnet_aux annotator weights for pose detection")
