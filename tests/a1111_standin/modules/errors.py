"""Stand-in of modules/errors.py: `report` prints the message and keeps the exception being handled in
`exception_records` (the last 5, each a new dict), which is how a script's failure can be seen afterwards."""

import sys
import traceback

exception_records = []
KEPT = 5


def record_exception():
    _, exc, tb = sys.exc_info()
    if exc is None:
        return
    exception_records.append({"exception": str(exc), "traceback": [[f"{f.filename}, line {f.lineno}, {f.name}", f.line]
                                                                     for f in traceback.extract_tb(tb)]})
    del exception_records[:-KEPT]


def report(message: str, *, exc_info: bool = False) -> None:
    record_exception()
    print("***", message, file=sys.stderr)
    if exc_info:
        print(traceback.format_exc(), file=sys.stderr)
