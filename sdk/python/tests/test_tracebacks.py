"""The per-tuple hooks' tracebacks: one in full per kind, then counts."""

import io

from gale._tracebacks import MAX_KINDS, Tracebacks


def _raise(kind: type, msg: str) -> BaseException:
    try:
        raise kind(msg)
    except BaseException as e:  # noqa: BLE001 - the test raises them itself
        return e


def _raise_elsewhere(msg: str) -> BaseException:
    try:
        raise ValueError(msg)
    except ValueError as e:
        return e


def test_one_traceback_per_kind_then_counts():
    now = [0.0]
    out = io.StringIO()
    tb = Tracebacks("bolt 'split' task 2", summary_every=10.0, clock=lambda: now[0], out=out)
    tb.print(_raise(ValueError, "first"), "execute failed on input 1")
    first = out.getvalue()
    assert first.startswith("gale: bolt 'split' task 2: execute failed on input 1:\nTraceback (most recent call last)")
    assert "ValueError: first" in first
    for i in range(1000):
        now[0] = i * 0.005  # 5 s of failures
        tb.print(_raise(ValueError, f"again {i}"), "execute failed")
    assert out.getvalue() == first, "a repeated failure printed more within the interval"
    # Another kind (another line) gets its own traceback.
    tb.print(_raise_elsewhere("elsewhere"), "execute failed")
    assert out.getvalue().count("Traceback (most recent call last)") == 2
    before = out.getvalue()
    now[0] = 10.0
    tb.print(_raise(ValueError, "late"), "execute failed")
    line = out.getvalue()[len(before):]
    assert line.startswith("gale: bolt 'split' task 2: 1001 more ValueError at ") and "in 10s" in line, line
    assert line.count("\n") == 1
    # Counts not printed yet are printed when the task stops.
    tb.print(_raise(ValueError, "after"), "execute failed")
    before = out.getvalue()
    tb.flush()
    assert out.getvalue()[len(before):].startswith("gale: bolt 'split' task 2: 1 more ValueError at ")


def test_kinds_are_bounded():
    out = io.StringIO()
    tb = Tracebacks("spout 's'", summary_every=0.0, out=out)
    kinds = [type(f"Error{i}", (Exception,), {}) for i in range(MAX_KINDS + 5)]
    for k in kinds:
        tb.print(_raise(k, "x"), "execute failed")
    text = out.getvalue()
    assert text.count("Traceback (most recent call last)") == MAX_KINDS
    assert "more other exceptions at various places" in text
    assert "the first traceback is above" not in text  # none was printed for them


def test_an_sdk_error_is_placed_at_the_users_call():
    import gale
    from gale._tracebacks import user_frame

    class Emits(gale.Bolt):
        def execute(self, tup):
            pass

    try:
        gale.Bolt.emit(Emits(), ["x"])  # not started: the SDK raises EmitError
    except gale.EmitError as e:
        err = e
    f = user_frame(err)
    assert f is not None and f.filename == __file__ and f.name == "test_an_sdk_error_is_placed_at_the_users_call", f
    out = io.StringIO()
    Tracebacks("bolt 'b'", out=out).print(err, "execute failed")
    assert "EmitError" in out.getvalue() and "test_tracebacks.py" in out.getvalue()
