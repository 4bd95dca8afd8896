using Control.Daemon;

namespace Control.Tests;

/// <summary>The per-network-namespace lock (issue 13 §3), in the test runner's namespace under a private random name.</summary>
public class InstanceLockTests
{
    [Test]
    public void A_second_holder_is_refused_naming_the_first_and_the_name_is_free_again_after_release()
    {
        var name = $"dataplane-test-{Guid.NewGuid():N}";
        var first = InstanceLock.Acquire(name);
        try
        {
            // Several refused attempts in a row: the holder drains their connections, so the backlog never fills.
            for (int i = 0; i < 40; i++)
            {
                var e = Assert.Throws<ControlException>(() => InstanceLock.Acquire(name))!;
                Assert.That(e.Message, Does.Contain($"pid {Environment.ProcessId}").And.Contain("already running in this network namespace"), $"attempt {i}");
            }
        }
        finally
        {
            first.Dispose();
        }
        using var again = InstanceLock.Acquire(name);
    }
}
