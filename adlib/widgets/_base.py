"""The small frame every adlib widget shares: controls → ``compute`` → ``render`` (an adlib.viz figure).

ipywidgets is imported only when a view is built, so ``import adlib.widgets`` works without it.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

STATIC_ENV = "ADLIB_STATIC"
_TRUE = ("1", "true", "yes", "on")


def static_reason(static: bool | None = None) -> str | None:
    """Why a widget function should return static figures, or None to build the interactive view.

    ``static=True`` forces static; ``None`` (default) is static when ``ADLIB_STATIC=1`` (papermill,
    CI) or when ipywidgets cannot be imported; ``static=False`` only gives way to a missing ipywidgets.
    """
    if static:
        return "static=True"
    if static is None and os.environ.get(STATIC_ENV, "").strip().lower() in _TRUE:
        return f"{STATIC_ENV}={os.environ[STATIC_ENV]}"
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return "ipywidgets is not installed"
    return None


def static_note(reason: str, what: str) -> str:
    """The line a static stand-in figure carries in its title, e.g.
    ``static view (ADLIB_STATIC=1): top 6 per row instead of the browser``."""
    return f"static view ({reason}): {what}"


def mark_static(fig, note: str):
    """Tag a static stand-in figure (``fig.adlib_static`` holds the note its title shows)."""
    fig.adlib_static = note
    return fig


class View:
    """Base of the interactive views.

    Subclasses create their controls (``ipywidgets`` objects kept as attributes), then call
    :meth:`_start`. Any control change runs :meth:`update`: ``state = compute()``, ``figure =
    render()`` (always an :mod:`adlib.viz` function), ``info`` HTML from :meth:`describe`, and the
    figure shown in the ``output`` widget. Tests set ``view.<control>.value`` and read ``state``.
    """

    def __init__(self) -> None:
        import ipywidgets as widgets

        self._widgets = widgets
        self.output = widgets.Output()
        self.info = widgets.HTML()
        self.figure = None
        self.state: dict = {}
        self._holding = False
        self.ui = None

    # -- to implement ------------------------------------------------------------------------
    def compute(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def render(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:
        return ""

    # -- machinery -------------------------------------------------------------------------------
    def _start(self, rows: list[list], controls: list) -> None:
        w = self._widgets
        boxes = [w.HBox(r) for r in rows if r]
        self.ui = w.VBox([*boxes, self.output, self.info])
        for c in controls:
            c.observe(self._changed, names="value")
        self.update()

    def _changed(self, change) -> None:
        if not self._holding:
            self.update()

    @contextmanager
    def hold(self):
        """Change several controls without re-rendering in between."""
        was, self._holding = self._holding, True
        try:
            yield
        finally:
            self._holding = was

    def update(self) -> None:
        self.state = self.compute()
        self.figure = self.render()
        self.info.value = self.describe()
        self._show(self.figure)

    def _show(self, fig) -> None:
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover - ipywidgets depends on IPython
            return
        if get_ipython() is None:  # plain Python (tests, scripts): keep the figure, show nothing
            return
        from IPython.display import clear_output, display

        with self.output:
            clear_output(wait=True)
            display(fig)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.ui)
