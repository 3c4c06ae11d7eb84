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

}  // namespace
}  // namespace txpipe::runtime
