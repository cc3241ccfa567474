"""Map pane: cameras, the selected alert with its notify radius, and officers, in Braille."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from shared.protocol.alerts import AlertView
from tui.dispatch.format import distance
from tui.dispatch.state import DispatchState
from tui.dispatch.widgets.braille import BrailleCanvas, fit, ring_points

STATUS_STYLE = {"available": "bold green", "busy": "bold yellow", "off_duty": "dim"}


class MapPane(Widget):
    """Renders the state's positions; the app calls :meth:`show` when something moved."""

    DEFAULT_CSS = """
    MapPane { height: 1fr; min-height: 4; }
    """

    def __init__(self, state: DispatchState, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = state
        self.alert: AlertView | None = None

    def show(self, alert: AlertView | None) -> None:
        self.alert = alert
        self.refresh()

    def render(self) -> Text:
        cols = self.size.width
        alert = self.alert
        radius = 0.0
        if alert is not None and alert.lat is not None and alert.lon is not None:
            dep = self.state.deployments.get(alert.deployment_id)
            radius = dep.notify_radius_m if dep else 0.0
        # The legend's scale needs the projection and the projection the rows the legend
        # leaves: lay it out for the scale's widest text first.
        legend = legend_lines(cols, radius, None)
        rows = self.size.height - len(legend)
        if cols < 4 or rows < 2:
            return Text("")
        canvas = BrailleCanvas(cols, rows)
        points: list[tuple[float, float]] = []
        cams = [c for c in self.state.cameras.values() if c.lat is not None and c.lon is not None]
        offs = [o for o in self.state.officers.values()
                if o.lat is not None and o.lon is not None and o.status != "off_duty"]
        points += [(c.lat, c.lon) for c in cams if c.lat is not None and c.lon is not None]
        points += [(o.lat, o.lon) for o in offs if o.lat is not None and o.lon is not None]
        if alert is not None and alert.lat is not None and alert.lon is not None:
            points.append((alert.lat, alert.lon))
            if radius:
                points += ring_points(alert.lat, alert.lon, radius)
        proj = fit(points, canvas.width, canvas.height)
        if proj is None:
            return Text("no positions known", style="dim")
        marks: dict[tuple[int, int], tuple[str, str]] = {}

        def mark(lat: float, lon: float, glyph: str, style: str) -> None:
            x, y = proj.to_dots(lat, lon)
            cell = (int(y) // 4, int(x) // 2)
            if 0 <= cell[0] < rows and 0 <= cell[1] < cols:
                marks[cell] = (glyph, style)

        if alert is not None and alert.lat is not None and alert.lon is not None and radius:
            cx, cy = proj.to_dots(alert.lat, alert.lon)
            canvas.circle(cx, cy, radius / proj.metres_per_dot)
        for cam in cams:
            if cam.lat is not None and cam.lon is not None:
                mark(cam.lat, cam.lon, "◆", "cyan")
        letters = self.state.officer_marks()
        for off in offs:
            if off.lat is not None and off.lon is not None:
                mark(off.lat, off.lon, letters.get(off.id, "?"), STATUS_STYLE.get(off.status, ""))
        if alert is not None and alert.lat is not None and alert.lon is not None:
            mark(alert.lat, alert.lon, "◉", "bold red")
        text = Text()
        for r, line in enumerate(canvas.lines()):
            for c, ch in enumerate(line):
                glyph = marks.get((r, c))
                if glyph is not None:
                    text.append(glyph[0], style=glyph[1])
                else:
                    text.append(ch, style="blue" if ch != " " else "")
            text.append("\n")
        lines = legend_lines(cols, radius, proj.metres_per_dot * 2)
        lines = (lines + [Text("")] * len(legend))[:len(legend)]
        text.append_text(Text("\n").join(lines))
        return text


LEGEND_SCALE_WIDEST = "col≈999.9 km"
"""The longest scale the legend makes room for (a city-sized map needs far less)."""


def legend_lines(width: int, radius_m: float, column_m: float | None) -> list[Text]:
    """The map's key, wrapped whole onto as many lines as the width needs (never cut).

    Args:
        width: columns available.
        radius_m: the selected alert's notify radius (0: none shown).
        column_m: metres per text column; None lays out for the widest scale text.
    """
    items = [Text.assemble(("◉", "bold red"), " alert"), Text.assemble(("◆", "cyan"), " camera"),
             Text.assemble(("A", "bold green"), " officer")]
    if radius_m:
        items.append(Text(f"○ {distance(radius_m)} notify radius"))
    scale = LEGEND_SCALE_WIDEST if column_m is None else f"col≈{distance(column_m)}"
    items.append(Text(scale, style="dim"))
    lines: list[Text] = [Text()]
    for item in items:
        line = lines[-1]
        if line.plain and len(line.plain) + 2 + len(item.plain) > width:
            lines.append(Text())
            line = lines[-1]
        if line.plain:
            line.append("  ")
        line.append_text(item)
    return lines
