using System.Net.Sockets;
using System.Text;
using Relay.Tests.Support;

namespace Relay.Tests.EndToEnd;

/// The relay as a process under a low open-file limit (`ulimit -n`), as the probe found it:
/// connections past what the limit allows must get 503 at once, never hang, and a failing
/// accept must not spin.
public sealed class OpenFileLimitTests
{
    [Fact]
    public async Task Under_a_low_open_file_limit_the_excess_gets_503_and_nothing_hangs()
    {
        await using var db = await TestDatabase.CreateAsync();
        await using var relay = await RelayProcess.StartAsync(new Dictionary<string, string> { ["DATABASE_URL"] = db.Url },
            shellPrefix: "ulimit -n 512 && ulimit -Hn 512 && ");
        var port = relay.Port;
        var sockets = new List<Socket>();
        try
        {
            var cap = int.Parse(System.Text.RegularExpressions.Regex.Match(relay.Log, @"at most (\d+) connections").Groups[1].Value);
            Assert.InRange(cap, 100, 449);   // lowered, with a log line saying so

            int upgraded = 0, refused = 0;
            for (var i = 0; i < 450; i++)
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                sockets.Add(s);
                await s.ConnectAsync("127.0.0.1", port);
                await s.SendAsync(Encoding.ASCII.GetBytes(RawWebSocket.UpgradeRequest(port)), SocketFlags.None);
                var buffer = new byte[12];
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                int n;
                try { n = await s.ReceiveAsync(buffer, SocketFlags.None, cts.Token); }
                catch (OperationCanceledException) { Assert.Fail($"connection {i + 1} got no answer within 10 s ({upgraded} upgraded, {refused} refused); open files: {OpenFiles(relay.Pid)}; log:\n{relay.Log}"); throw; }
                var status = Encoding.ASCII.GetString(buffer, 0, n);
                if (status.StartsWith("HTTP/1.1 101")) upgraded++;
                else if (status.StartsWith("HTTP/1.1 503")) refused++;
            }
            Assert.Equal(cap, upgraded);
            Assert.Equal(450 - cap, refused);
        }
        finally
        {
            foreach (var s in sockets) s.Dispose();
        }
    }

    private static string OpenFiles(int pid)
    {
        try { return Directory.GetFiles($"/proc/{pid}/fd").Length.ToString(); } catch (IOException) { return "?"; }
    }
}
