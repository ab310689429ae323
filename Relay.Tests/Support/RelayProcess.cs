using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace Relay.Tests.Support;

/// The relay as its own process (`dotnet relay.dll` from Relay.Server's build output), for what
/// only a process shows: signals, exit codes, crashes, its log.
internal sealed class RelayProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();

    public int Port { get; }
    public Uri Url => new($"ws://127.0.0.1:{Port}");
    public int Pid => _process.Id;
    public string Log { get { lock (_log) return _log.ToString(); } }

    private RelayProcess(Process process, int port)
    {
        _process = process;
        Port = port;
        process.OutputDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// Relay.Server's own build output (the test folder's relay.dll lacks its runtime config).
    public static string Dll
    {
        get
        {
            var sep = Path.DirectorySeparatorChar;
            var dll = Path.Combine(AppContext.BaseDirectory.Replace($"{sep}Relay.Tests{sep}", $"{sep}Relay.Server{sep}"), "relay.dll");
            Assert.True(File.Exists(dll), $"{dll} is missing (build Relay.Server)");
            return dll;
        }
    }

    public static int FreePort()
    {
        using var l = new TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        return ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
    }

    /// Starts `relay serve` with these settings and waits until it listens.
    public static async Task<RelayProcess> StartAsync(IDictionary<string, string> settings, string shellPrefix = "")
    {
        var port = FreePort();
        var psi = new ProcessStartInfo("bash", ["-c", $"{shellPrefix}exec dotnet \"{Dll}\""])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        // Only what the test gives: none of the test run's own settings leak in.
        foreach (var inherited in psi.Environment.Keys.Where(k => k.StartsWith("RELAY_", StringComparison.Ordinal) || k.StartsWith("OTEL_", StringComparison.Ordinal)
                     || k is "LOG_LEVEL" or "LOG_FORMAT" or "REDIS_URL" or "DATABASE_URL").ToList())
            psi.Environment.Remove(inherited);
        psi.Environment["LOG_LEVEL"] = "Information";   // start-up waits for "Relay listening"
        psi.Environment["RELAY_HOST"] = "127.0.0.1";
        psi.Environment["RELAY_PORT"] = port.ToString();
        foreach (var (k, v) in settings) psi.Environment[k] = v;
        var relay = new RelayProcess(Process.Start(psi)!, port);
        for (var i = 0; i < 300 && !relay.Log.Contains("Relay listening") && !relay._process.HasExited; i++) await Task.Delay(50);
        Assert.True(relay.Log.Contains("Relay listening"), "relay did not start: " + relay.Log);
        return relay;
    }

    public Task<RelayClient> ConnectAsync() => RelayClient.ConnectAsync(Url);

    /// Sends a signal (`kill -TERM`, `-KILL`) to the relay.
    /// Sends the signal at once (kill(2): spawning `kill` took long enough for a fast relay to
    /// finish a test's whole load before a "mid-load" KILL arrived).
    public void Signal(string name)
    {
        var number = name switch { "KILL" => 9, "TERM" => 15, "INT" => 2, "HUP" => 1, _ => throw new ArgumentException($"unknown signal {name}") };
        if (SendSignal(Pid, number) != 0) throw new InvalidOperationException($"kill({Pid}, {number}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    /// Waits for the process to end; null if it is still running after the timeout.
    public async Task<int?> ExitCodeAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try { await _process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { return null; }
        _process.WaitForExit();   // the log's last lines
        return _process.ExitCode;
    }

    public async Task<string> MetricsAsync() => (await RawHttp.RequestAsync(Port, "GET", "/metrics")).BodyText;

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
