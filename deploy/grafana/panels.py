"""The panels of txpipe's Grafana dashboards: the one description that
deploy/grafana/generate.py renders twice, as InfluxQL (dashboards/txpipe-influxql.json) and as
Flux (dashboards/txpipe-flux.json). Edit this file, run `python3 deploy/grafana/generate.py`,
commit the three files together; tests/grafana_test.py fails while the JSON is stale.

What the panels read is the InfluxDB sink's data contract (docs/influxdb.md, "Points"):
  <stream>_windows  one point per (window size, window start, dimension, value); tags window
                    ("10s" | "1m"), dimension, value; fields count (integer) and the
                    processor's floats (amount_usd_sum, failed_ratio, price_usd_avg, ...);
                    time = window start
  alerts            tags rule, kind, severity, stream; string fields id, key, message, values
  finance_transactions / finance_transaction_data / car_transactions   raw events
and, for the pipeline row, txpipe's Prometheus metrics (GET /metrics).

Panel kinds (keys of each dict):
  rate          one point per window: the window's `field` divided by the window's seconds
                (count -> events/s, amount_usd_sum -> USD/s); a series per `value` of
                `dimension` (or one series for dimension "total")
  window_value  one point per window: the window's `field` as is (failed_ratio, price_usd_avg)
  window_total  bars: sum of the windows' counts over the time range, a bar per value
  raw_rate      raw events counted per Grafana interval, divided by its seconds, a series per
                `tag`; `measurement` may be a variable (lean or seed schema)
  alerts_table  the newest alerts of the time range
  prometheus    PromQL `targets` [(expr, legend)] against txpipe's /metrics
"""

# The processor's window sizes: the `window` tag's value and its length in seconds. The
# dashboards' `window` variable offers them ("10s : 10, 1m : 60": ${window:text} is the tag,
# $window the seconds).
WINDOWS = [("10s", 10), ("1m", 60)]

# Raw finance events are written as `finance_transactions` (per_event = "lean") or as the seed
# job's `finance_transaction_data` (per_event = "seed"); the `finance_raw` variable picks one.
FINANCE_RAW = ["finance_transactions", "finance_transaction_data"]

# Alerts become annotations on every time series panel, one annotation query per severity.
ALERT_ANNOTATIONS = [
    {"name": "Alerts: critical", "severity": "critical", "color": "red"},
    {"name": "Alerts: warning", "severity": "warning", "color": "orange"},
]


def _rate(title, stream, dimension, field="count", unit="short", description=""):
    return {"kind": "rate", "title": title, "stream": stream, "dimension": dimension,
            "field": field, "unit": unit, "description": description}


def _finance_pair(by, label):
    """Transactions/s and amount/s (USD) split by one finance dimension."""
    return [
        _rate(f"Transactions/s by {label}", "finance", by,
              description=f"Finance transactions per second, by {by}: each point is one "
                          "window's count divided by the window's length."),
        _rate(f"Amount/s by {label} (USD)", "finance", by, field="amount_usd_sum",
              unit="currencyUSD",
              description=f"Transaction amounts converted to USD, per second, by {by}: each "
                          "point is one window's amount_usd_sum divided by its length."),
    ]


ROWS = [
    {"title": "Finance transactions", "panels": [
        *_finance_pair("transaction_type", "type"),
        *_finance_pair("transaction_status", "status"),
        *_finance_pair("transaction_channel", "channel"),
        *_finance_pair("currency", "currency"),
        *_finance_pair("location_city", "city"),
        {"kind": "window_value", "title": "Failed ratio", "stream": "finance",
         "dimension": "total", "field": "failed_ratio", "unit": "percentunit",
         "legend": "failed ratio",
         "description": "Share of all finance transactions with transaction_status = failed, "
                        "per window (the processor's failed_ratio of the `total` dimension)."},
        {"kind": "window_total", "title": "Transactions by customer age band",
         "stream": "finance", "dimension": "customer_age_band",
         "description": "Finance transactions in the time range, by the customer's age band "
                        "(sum of the windows' counts)."},
    ]},
    {"title": "Car sales", "panels": [
        _rate("Car transactions/s by brand", "cars", "brand",
              description="Car transactions per second, by brand: each point is one window's "
                          "count divided by the window's length."),
        {"kind": "window_value", "title": "Average price by brand (USD)", "stream": "cars",
         "dimension": "brand", "field": "price_usd_avg", "unit": "currencyUSD",
         "description": "Average car price converted to USD, per window and brand (the "
                        "processor's price_usd_avg)."},
        _rate("Car transactions/s by status", "cars", "status",
              description="Car transactions per second, by status (completed, pending, "
                          "failed, cancelled)."),
        _rate("Car transactions/s by payment method", "cars", "payment_method",
              description="Car transactions per second, by payment method."),
    ]},
    {"title": "Alerts", "panels": [
        {"kind": "alerts_table", "title": "Alerts", "width": 24,
         "description": "The newest alerts of the time range (rules picked with the `rule` "
                        "variable); the same alerts mark every time series panel."},
    ]},
    {"title": "Pipeline (Prometheus)", "panels": [
        {"kind": "prometheus", "title": "Consumer lag", "unit": "short",
         "targets": [("sum by (group, topic) (txpipe_consumer_lag)", "{{group}} / {{topic}}")],
         "description": "Events appended to a topic but not yet committed by a consumer "
                        "group (txpipe_consumer_lag), from a Prometheus that scrapes txpipe's "
                        "/metrics."},
        {"kind": "prometheus", "title": "Events appended/s", "unit": "short",
         "targets": [
             ("sum by (topic) (rate(txpipe_log_end_offset[$__rate_interval]))", "{{topic}}"),
             ("sum by (topic) (rate(txpipe_http_ingest_events_total[$__rate_interval]))",
              "POST /api/logs: {{topic}}"),
         ],
         "description": "Events appended per second to each topic of the embedded log, and "
                        "the part of them that came in through POST /api/logs."},
    ]},
    {"title": "Raw events", "collapsed": True, "panels": [
        {"kind": "raw_rate", "title": "Raw finance events/s by type ($finance_raw)",
         "measurement": "$finance_raw", "field": "amount", "tag": "transaction_type",
         "description": "Raw finance events per second, by transaction_type, counted from "
                        "the events themselves (per_event = \"lean\": finance_transactions; "
                        "\"seed\": the seed's finance_transaction_data)."},
        {"kind": "raw_rate", "title": "Raw car events/s by brand",
         "measurement": "car_transactions", "field": "price", "tag": "brand",
         "description": "Raw car events per second, by brand, counted from the events "
                        "(per_event = \"lean\")."},
    ]},
]
