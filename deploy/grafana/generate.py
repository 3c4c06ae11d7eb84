#!/usr/bin/env python3
"""Writes txpipe's Grafana dashboards from the one panel description, panels.py:

  dashboards/txpipe-influxql.json   InfluxQL: InfluxDB 1.x, or 2.x/Cloud through its 1.x API
  dashboards/txpipe-flux.json       Flux: InfluxDB 2.x and Cloud

Usage: python3 deploy/grafana/generate.py            write both files
       python3 deploy/grafana/generate.py --check    exit 1 (naming them) if they are stale

Python 3 standard library only. The output is deterministic (same input, same bytes), so the
committed files can be compared with a fresh run (tests/grafana_test.py does).
"""
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ next to the committed files
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import panels as P  # noqa: E402

SCHEMA_VERSION = 39  # Grafana 10.4/11; newer Grafana migrates it on load

# Fixed uids of the provisioned datasources (provisioning/datasources/txpipe.yaml). Panels
# name their datasource through a variable whose default is one of these, so an imported copy
# (Grafana Cloud) can be pointed at other datasources from the dashboard's variable bar.
DS_INFLUXQL = "txpipe-influxql"
DS_FLUX = "txpipe-flux"
DS_PROMETHEUS = "txpipe-prometheus"

INFLUX = {"type": "influxdb", "uid": "${ds}"}
PROMETHEUS = {"type": "prometheus", "uid": "${prom}"}

# Flux: the first lines of every query. `bucket` is a dashboard variable (default txpipe);
# v.timeRangeStart/Stop and v.windowPeriod are Grafana's.
FLUX_FROM = ('from(bucket: "${bucket}")\n'
             '  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n')


def _windows_measurement(stream):
    return f"{stream}_windows"


# ---------------------------------------------------------------------------------- InfluxQL

def _influxql_where(p):
    return (f"\"window\" = '${{window:text}}' AND \"dimension\" = '{p['dimension']}' "
            "AND $timeFilter")


def _influxql(p):
    """(query, alias, resultFormat) of a panel of the InfluxDB kinds."""
    kind = p["kind"]
    if kind in ("rate", "window_value"):
        select = (f"sum(\"{p['field']}\") / $window" if kind == "rate"
                  else f"mean(\"{p['field']}\")")
        by_value = p["dimension"] != "total"
        group = "time(${window:text})" + (', "value"' if by_value else "")
        query = (f"SELECT {select} FROM \"{_windows_measurement(p['stream'])}\" "
                 f"WHERE {_influxql_where(p)} GROUP BY {group} fill(null)")
        return query, ("$tag_value" if by_value else p.get("legend", p["title"])), "time_series"
    if kind == "window_total":
        query = (f"SELECT sum(\"count\") FROM \"{_windows_measurement(p['stream'])}\" "
                 f"WHERE {_influxql_where(p)} GROUP BY \"value\"")
        return query, "$tag_value", "time_series"
    if kind == "raw_rate":
        query = (f"SELECT count(\"{p['field']}\") * 1000 / $__interval_ms "
                 f"FROM \"{p['measurement']}\" WHERE $timeFilter "
                 f"GROUP BY time($__interval), \"{p['tag']}\" fill(0)")
        return query, f"$tag_{p['tag']}", "time_series"
    if kind == "alerts_table":
        query = ('SELECT "severity", "rule", "kind", "stream", "key", "message", "values" '
                 'FROM "alerts" WHERE "rule" =~ /^${rule:regex}$/ AND $timeFilter '
                 "ORDER BY time DESC LIMIT 200")
        return query, "", "table"
    raise ValueError(f"unknown panel kind {kind!r}")


def _influxql_target(p):
    query, alias, fmt = _influxql(p)
    t = {"refId": "A", "datasource": INFLUX, "rawQuery": True, "resultFormat": fmt,
         "query": query}
    if alias:
        t["alias"] = alias
    return [t]


def _influxql_annotation(a):
    query = ('SELECT "message", "rule", "kind", "stream" FROM "alerts" '
             f"WHERE \"severity\" = '{a['severity']}' AND \"rule\" =~ /^${{rule:regex}}$/ "
             "AND $timeFilter")
    columns = {"textColumn": "message", "tagsColumn": "rule,kind,stream", "titleColumn": "",
               "timeEndColumn": ""}
    # The legacy top-level fields and the `target` Grafana 10+ migrates them into.
    return {"name": a["name"], "datasource": INFLUX, "enable": True, "hide": False,
            "iconColor": a["color"], "query": query, **columns,
            "target": {"refId": "Anno", "rawQuery": True, "fromAnnotations": True,
                       "query": query, **columns}}


# -------------------------------------------------------------------------------------- Flux

def _flux_windows(p, field):
    return (FLUX_FROM
            + f'  |> filter(fn: (r) => r._measurement == "{_windows_measurement(p["stream"])}"'
            + f' and r._field == "{field}")\n'
            + '  |> filter(fn: (r) => r.window == "${window:text}"'
            + f' and r.dimension == "{p["dimension"]}")\n')


def _flux(p):
    """(query, displayName) of a panel of the InfluxDB kinds."""
    kind = p["kind"]
    if kind in ("rate", "window_value"):
        by_value = p["dimension"] != "total"
        q = _flux_windows(p, p["field"])
        if kind == "rate":
            q += "  |> map(fn: (r) => ({r with _value: float(v: r._value) / ${window}.0}))\n"
        if by_value:
            q += ('  |> group(columns: ["value"])\n'
                  '  |> keep(columns: ["_time", "_value", "value"])')
            return q, "${__field.labels.value}"
        q += '  |> group()\n  |> keep(columns: ["_time", "_value"])'
        return q, p.get("legend", p["title"])
    if kind == "window_total":
        q = (_flux_windows(p, "count")
             + '  |> group(columns: ["value"])\n'
             + "  |> sum()\n"
             + '  |> keep(columns: ["_value", "value"])')
        return q, "${__field.labels.value}"
    if kind == "raw_rate":
        tag = p["tag"]
        measurement = p["measurement"]
        if measurement.startswith("$"):
            measurement = "${" + measurement[1:] + "}"
        q = (FLUX_FROM
             + f'  |> filter(fn: (r) => r._measurement == "{measurement}"'
             + f' and r._field == "{p["field"]}")\n'
             + f'  |> group(columns: ["{tag}"])\n'
             + '  |> sort(columns: ["_time"])\n'
             + "  |> aggregateWindow(every: v.windowPeriod, fn: count, createEmpty: true)\n"
             + "  |> map(fn: (r) => ({r with _value: float(v: r._value) * 1000000000.0"
             + " / float(v: int(v: v.windowPeriod))}))\n"
             + f'  |> keep(columns: ["_time", "_value", "{tag}"])')
        return q, "${__field.labels." + tag + "}"
    if kind == "alerts_table":
        q = (FLUX_FROM
             + '  |> filter(fn: (r) => r._measurement == "alerts")\n'
             + "  |> filter(fn: (r) => r.rule =~ /^${rule:regex}$/)\n"
             + '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")\n'
             + "  |> group()\n"
             + '  |> keep(columns: ["_time", "severity", "rule", "kind", "stream", "key",'
             + ' "message", "values"])\n'
             + '  |> sort(columns: ["_time"], desc: true)\n'
             + "  |> limit(n: 200)")
        return q, ""
    raise ValueError(f"unknown panel kind {kind!r}")


def _flux_target(p):
    return [{"refId": "A", "datasource": INFLUX, "query": _flux(p)[0]}]


def _flux_annotation(a):
    query = (FLUX_FROM
             + '  |> filter(fn: (r) => r._measurement == "alerts" and r._field == "message"'
             + f' and r.severity == "{a["severity"]}")\n'
             + "  |> filter(fn: (r) => r.rule =~ /^${rule:regex}$/)\n"
             + '  |> map(fn: (r) => ({_time: r._time, text: r._value,'
             + ' tags: r.rule + "," + r.kind + "," + r.stream}))\n'
             + "  |> group()")
    return {"name": a["name"], "datasource": INFLUX, "enable": True, "hide": False,
            "iconColor": a["color"],
            "target": {"refId": "Anno", "query": query},
            "mappings": {"time": {"source": "field", "value": "_time"},
                         "text": {"source": "field", "value": "text"},
                         "tags": {"source": "field", "value": "tags"}}}


# --------------------------------------------------------------------------------- variables

def _custom(name, label, options, current=0):
    """A custom variable; options are (text, value) pairs."""
    opts = [{"text": t, "value": v, "selected": i == current} for i, (t, v) in enumerate(options)]
    query = ",".join(t if t == v else f"{t} : {v}" for t, v in options)
    return {"name": name, "label": label, "type": "custom", "query": query,
            "current": {"text": opts[current]["text"], "value": opts[current]["value"]},
            "options": opts, "multi": False, "includeAll": False, "hide": 0,
            "skipUrlSync": False}


def _datasource(name, label, plugin, uid, text):
    return {"name": name, "label": label, "type": "datasource", "query": plugin,
            "current": {"text": text, "value": uid}, "options": [], "regex": "", "hide": 0,
            "refresh": 1, "multi": False, "includeAll": False, "skipUrlSync": False}


def _query(name, label, query, current, multi=False, all_value=None):
    v = {"name": name, "label": label, "type": "query", "datasource": INFLUX,
         "query": query, "definition": query, "refresh": 1, "regex": "", "sort": 1,
         "hide": 0, "options": [], "multi": multi, "includeAll": all_value is not None,
         "skipUrlSync": False}
    if all_value is not None:
        v["allValue"] = all_value
        v["current"] = {"text": ["All"], "value": ["$__all"]}
    else:
        v["current"] = {"text": current, "value": current}
    return v


def _variables(dialect):
    if dialect == "influxql":
        ds = _datasource("ds", "InfluxDB (InfluxQL)", "influxdb", DS_INFLUXQL,
                         "txpipe InfluxDB 1.x (InfluxQL)")
        rule = _query("rule", "Alert rules", 'SHOW TAG VALUES FROM "alerts" WITH KEY = "rule"',
                      None, multi=True, all_value=".*")
        extra = []
    else:
        ds = _datasource("ds", "InfluxDB (Flux)", "influxdb", DS_FLUX,
                         "txpipe InfluxDB 2.x (Flux)")
        rule = _query("rule", "Alert rules",
                      'import "influxdata/influxdb/schema"\n\n'
                      'schema.measurementTagValues(bucket: "${bucket}", measurement: "alerts",'
                      ' tag: "rule")', None, multi=True, all_value=".*")
        extra = [_query("bucket", "Bucket",
                        "buckets()\n"
                        "  |> filter(fn: (r) => r.name !~ /^_/)\n"
                        '  |> rename(columns: {name: "_value"})\n'
                        '  |> keep(columns: ["_value"])', "txpipe")]
    prom = _datasource("prom", "Prometheus", "prometheus", DS_PROMETHEUS, "txpipe Prometheus")
    window = _custom("window", "Window", [(t, str(s)) for t, s in P.WINDOWS])
    raw = _custom("finance_raw", "Raw finance measurement", [(m, m) for m in P.FINANCE_RAW])
    return [ds, *extra, window, rule, prom, raw]


# ------------------------------------------------------------------------------------ panels

def _panel(p, dialect, pid, pos):
    kind = p["kind"]
    base = {"id": pid, "title": p["title"], "description": p.get("description", ""),
            "gridPos": pos}
    if kind == "prometheus":
        targets = [{"refId": chr(ord("A") + i), "datasource": PROMETHEUS, "expr": expr,
                    "legendFormat": legend, "range": True, "editorMode": "code"}
                   for i, (expr, legend) in enumerate(p["targets"])]
        return {**base, "type": "timeseries", "datasource": PROMETHEUS,
                "fieldConfig": _timeseries_fields(p.get("unit", "short"), None),
                "options": _timeseries_options(), "targets": targets}
    targets = _influxql_target(p) if dialect == "influxql" else _flux_target(p)
    display = None if dialect == "influxql" else _flux(p)[1] or None
    if kind == "window_total":
        fields = {"defaults": {"unit": "short", "min": 0}, "overrides": []}
        if display:
            fields["defaults"]["displayName"] = display
        return {**base, "type": "bargauge", "datasource": INFLUX, "fieldConfig": fields,
                "options": {"orientation": "horizontal", "displayMode": "gradient",
                            "showUnfilled": True, "valueMode": "color",
                            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                              "values": False}},
                "targets": targets}
    if kind == "alerts_table":
        return {**base, "type": "table", "datasource": INFLUX,
                "fieldConfig": {"defaults": {"custom": {"filterable": True}}, "overrides": []},
                "options": {"showHeader": True, "cellHeight": "sm",
                            "sortBy": [{"displayName": "Time", "desc": True}]},
                "targets": targets}
    # A window without events of a value has no point (a gap, not a zero: the newest windows
    # are not emitted yet either); points keep a value seen in one window alone visible.
    points = kind in ("rate", "window_value")
    return {**base, "type": "timeseries", "datasource": INFLUX,
            "fieldConfig": _timeseries_fields(p.get("unit", "short"), display, points),
            "options": _timeseries_options(), "targets": targets}


def _timeseries_fields(unit, display, points=False):
    defaults = {"unit": unit, "min": 0,
                "custom": {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10,
                           "showPoints": "always" if points else "never", "pointSize": 3,
                           "spanNulls": False}}
    if display:
        defaults["displayName"] = display
    return {"defaults": defaults, "overrides": []}


def _timeseries_options():
    return {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True,
                       "calcs": []},
            "tooltip": {"mode": "multi", "sort": "desc"}}


def _layout(dialect):
    """Rows of two panels each (a panel with width 24 takes a line of its own)."""
    out, pid, y = [], 1, 0
    for row in P.ROWS:
        collapsed = row.get("collapsed", False)
        row_panel = {"id": pid, "type": "row", "title": row["title"], "collapsed": collapsed,
                     "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []}
        pid, y = pid + 1, y + 1
        out.append(row_panel)
        x = 0
        for p in row["panels"]:
            w = p.get("width", 12)
            if x + w > 24:
                x, y = 0, y + 8
            panel = _panel(p, dialect, pid, {"h": 8, "w": w, "x": x, "y": y})
            pid += 1
            (row_panel["panels"] if collapsed else out).append(panel)
            x += w
        y += 8
    return out


def dashboard(dialect):
    """The dashboard JSON model (a dict) for dialect "influxql" or "flux"."""
    anno = _influxql_annotation if dialect == "influxql" else _flux_annotation
    language = "InfluxQL" if dialect == "influxql" else "Flux"
    return {
        "uid": f"txpipe-{dialect}",
        "title": f"txpipe ({language})",
        "description": "txpipe's finance and car windows, alerts and pipeline, generated by "
                       "deploy/grafana/generate.py from deploy/grafana/panels.py "
                       "(docs/grafana.md). Edit those, not this file.",
        "tags": ["txpipe"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "links": [],
        "annotations": {"list": [
            {"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
             "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
             "name": "Annotations & Alerts", "type": "dashboard"},
            *[anno(a) for a in P.ALERT_ANNOTATIONS],
        ]},
        "templating": {"list": _variables(dialect)},
        "panels": _layout(dialect),
    }


def render(dialect):
    return json.dumps(dashboard(dialect), indent=2, ensure_ascii=False) + "\n"


OUTPUTS = {"influxql": "dashboards/txpipe-influxql.json", "flux": "dashboards/txpipe-flux.json"}


def main(argv):
    check = argv[1:] == ["--check"]
    if argv[1:] and not check:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    stale = []
    for dialect, rel in OUTPUTS.items():
        path = os.path.join(HERE, rel)
        text = render(dialect)
        if check:
            try:
                with open(path, encoding="utf-8") as f:
                    if f.read() == text:
                        continue
            except FileNotFoundError:
                pass
            stale.append(f"deploy/grafana/{rel}")
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    if stale:
        print("stale (run python3 deploy/grafana/generate.py): " + ", ".join(stale),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
