"""Statistics of a deployment: the counts, and both rates side by side, always together."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from tui.dispatch import format as fmt
from tui.dispatch.state import DispatchState


def _pair(label: str, value: str, width: int) -> str:
    """``label`` left and ``value`` right within ``width`` columns."""
    return f"{label:<{max(1, width - len(value) - 1)}} {value}"


def stats_text(state: DispatchState, deployment_id: str | None, width: int) -> Text:
    """The panel's text for a given width (pure, so it is testable without an app)."""
    stats = state.stats_for(deployment_id)
    dep = state.deployments.get(deployment_id or "")
    text = Text(no_wrap=False)
    text.append(dep.name if dep else "All deployments", style="bold")
    text.append("\n")
    # The two rates first and together: either alone misleads (DESIGN.md, statistics).
    rate, prec = fmt.false_alert_rate(stats), fmt.precision(stats)
    half = (width - 1) // 2
    if half >= 24:
        text.append(f"{'False alerts per face':<{half}}  ", style="bold")
        text.append("Alert precision\n", style="bold")
        text.append(f"{rate:<{half}}  {prec}")
    else:
        # Too narrow for two columns: still adjacent, one under the other.
        text.append("False alerts ", style="bold")
        text.append(f"{rate}\n")
        text.append("Precision ", style="bold")
        text.append(prec)
    text.append("\n")
    pairs = [
        (("Faces", f"{stats.faces_processed:,}"), ("Alerts", f"{stats.alerts:,}")),
        (("Dismissed", f"{stats.dismissed:,}"), ("Confirmed", f"{stats.confirmed:,}")),
        (("Not person", f"{stats.not_the_person:,}"), ("Not found", f"{stats.not_located:,}")),
    ]
    for left, right in pairs:
        if half >= 13:
            text.append(_pair(*left, half) + "  " + _pair(*right, half - 1) + "\n")
        else:
            text.append(_pair(*left, width) + "\n" + _pair(*right, width) + "\n")
    text.rstrip()
    return text


class StatsPanel(Widget):
    DEFAULT_CSS = """
    StatsPanel { height: 1fr; }
    """

    def __init__(self, state: DispatchState, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = state
        self.deployment_id: str | None = None

    def show(self, deployment_id: str | None) -> None:
        self.deployment_id = deployment_id
        self.refresh()

    def render(self) -> Text:
        return stats_text(self.state, self.deployment_id, self.size.width)
