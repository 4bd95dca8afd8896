using Control.Observe;

namespace Control.Tests.Observe;

/// <summary>The daemon's /metrics text passes the strict exposition parser, label values escaped.</summary>
public class MetricsTextTests
{
    [Test]
    public void Daemon_metrics_before_the_lease_parse_and_label_values_are_escaped()
    {
        var text = new System.Text.StringBuilder();
        MetricsText.Write(text, new DaemonInfo());
        MetricsText.Header(text, "dataplane_test_total", "counter", "a test\nwith a newline");
        MetricsText.Sample(text, "dataplane_test_total", 3, ("peer", "a\"b\\c\nd"));
        var parsed = PrometheusText.Parse(text.ToString());
        Assert.That(parsed.Value("dataplane_test_total", ("peer", "a\"b\\c\nd")), Is.EqualTo(3));
        Assert.That(parsed.Value("dataplane_uptime_seconds"), Is.GreaterThanOrEqualTo(0));
        Assert.That(parsed.Value("dataplane_ready"), Is.Zero);
        Assert.That(parsed.Types["dataplane_start_time_seconds"], Is.EqualTo("gauge"));
    }
}
