using Relay.LoadTests.Measure;

namespace Relay.LoadTests.Scenarios;

/// Each client connection is one file descriptor here (and one in the relay).
internal static class FdLimit
{
    private const int Spare = 64;

    /// Stops with a clear message when our open-file limit cannot hold the connections.
    public static void Require(int connections, string scenario, string option)
    {
        var limit = ProcFs.OpenFileLimit();
        if (limit >= 0 && limit < connections + Spare)
            throw new ScenarioException(
                $"{scenario} needs {connections:N0} sockets ({option}) but this process may open only {limit:N0} files. "
                + $"Raise the limit in the shell that starts it (and the relay), e.g. `ulimit -n {Math.Max(65536, connections * 2)}` "
                + "(as root, or up to the hard limit `ulimit -Hn`), or ask for fewer connections.");
    }

    /// Warns when the relay's own limit is below what the run needs.
    public static void WarnForRelay(int pid, int connections)
    {
        var limit = ProcFs.OpenFileLimit(pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (limit >= 0 && limit < connections + Spare)
            Console.Error.WriteLine($"warning: the relay (pid {pid}) may open only {limit:N0} files, fewer than the {connections:N0} connections asked for; start it after `ulimit -n {Math.Max(65536, connections * 2)}`");
    }
}
