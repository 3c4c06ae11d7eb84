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
