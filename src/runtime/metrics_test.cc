#include "runtime/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace txpipe::runtime {
namespace {

TEST(MetricsTest, CountersGaugesAndPrometheusText) {
  Metrics m;
  Counter* c = m.counter("txpipe_events_total", "Events", {{"component", "spool"}});
  c->Add(3);
  EXPECT_EQ(m.counter("txpipe_events_total", "", {{"component", "spool"}}), c);  // same one
  m.counter("txpipe_events_total", "", {{"component", "a\"b"}})->Add();
  m.gauge("txpipe_lag", "Lag")->Set(-2);
  EXPECT_EQ(m.CounterValue("txpipe_events_total", {{"component", "spool"}}), 3u);
  EXPECT_EQ(m.CounterValue("nope"), 0u);
  EXPECT_EQ(m.GaugeValue("txpipe_lag"), -2);
  std::string text = m.Prometheus();
  EXPECT_THAT(text, ::testing::HasSubstr("# TYPE txpipe_events_total counter\n"));
  EXPECT_THAT(text, ::testing::HasSubstr("txpipe_events_total{component=\"spool\"} 3\n"));
  EXPECT_THAT(text, ::testing::HasSubstr("txpipe_events_total{component=\"a\\\"b\"} 1\n"));
  EXPECT_THAT(text, ::testing::HasSubstr("# TYPE txpipe_lag gauge\ntxpipe_lag -2\n"));
}

TEST(MetricsTest, SnapshotListsEveryMetricByNameThenLabels) {
  Metrics m;
  m.gauge("txpipe_b", "B")->Set(-4);
  m.counter("txpipe_a_total", "A", {{"k", "2"}})->Add(7);
  m.counter("txpipe_a_total", "A", {{"k", "1"}})->Add(1);
  std::vector<MetricSample> s = m.Snapshot();
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].name, "txpipe_a_total");
  EXPECT_EQ(s[0].labels, (Labels{{"k", "1"}}));
  EXPECT_EQ(s[0].value, 1);
  EXPECT_TRUE(s[0].is_counter);
  EXPECT_EQ(s[1].labels, (Labels{{"k", "2"}}));
  EXPECT_EQ(s[1].value, 7);
  EXPECT_EQ(s[2].name, "txpipe_b");
  EXPECT_FALSE(s[2].is_counter);
  EXPECT_EQ(s[2].value, -4);
}

}  // namespace
}  // namespace txpipe::runtime

namespace txpipe::runtime {
namespace {

TEST(MetricsTest, HistogramBucketsSumAndCountInPrometheusText) {
  Metrics m;
  Histogram* h = m.histogram("txpipe_x_seconds", "X latency", {0.01, 0.1, 1}, {{"route", "/a"}});
  for (double v : {0.005, 0.01, 0.05, 0.5, 3.0}) h->Observe(v);
  EXPECT_EQ(h->count(), 5u);
  EXPECT_EQ(h->CumulativeCount(0), 2u);  // 0.005 and 0.01 (le is inclusive)
  EXPECT_EQ(h->CumulativeCount(2), 4u);
  EXPECT_NEAR(h->sum(), 3.565, 1e-6);
  std::string text = m.Prometheus();
  EXPECT_NE(text.find("# TYPE txpipe_x_seconds histogram\n"), std::string::npos) << text;
  EXPECT_NE(text.find("txpipe_x_seconds_bucket{route=\"/a\",le=\"0.1\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("txpipe_x_seconds_bucket{route=\"/a\",le=\"+Inf\"} 5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("txpipe_x_seconds_count{route=\"/a\"} 5\n"), std::string::npos) << text;
  // The same name and labels give the same histogram.
  EXPECT_EQ(m.histogram("txpipe_x_seconds", "", {}, {{"route", "/a"}}), h);
}

}  // namespace
}  // namespace txpipe::runtime
