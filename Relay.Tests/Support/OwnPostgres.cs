using System.Diagnostics;

namespace Relay.Tests.Support;

/// A PostgreSQL cluster of the test's own (initdb into a temporary folder, a free port), which
/// the test may stop and start again without touching the shared server. As root, initdb and
/// pg_ctl run as the `postgres` OS user, as scripts/test runs them.
internal sealed class OwnPostgres : IAsyncDisposable
{
    private readonly string _dir;
    public int Port { get; } = RelayProcess.FreePort();
    public string Url => $"postgres://postgres@127.0.0.1:{Port}/postgres";

    private OwnPostgres(string dir) => _dir = dir;

    private static string Bin(string tool) =>
        Directory.GetDirectories("/usr/lib/postgresql").OrderBy(d => int.TryParse(Path.GetFileName(d), out var v) ? v : 0)
            .Select(d => Path.Combine(d, "bin", tool)).Last(File.Exists);

    private static bool IsRoot => Environment.UserName == "root";

    private static async Task RunAsync(string tool, params string[] args)
    {
        var psi = IsRoot ? new ProcessStartInfo("runuser", ["-u", "postgres", "--", Bin(tool), .. args]) : new ProcessStartInfo(Bin(tool), args);
        psi.RedirectStandardOutput = psi.RedirectStandardError = true;
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var errors = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{tool} {string.Join(' ', args)} failed: {await output}{await errors}");
    }

    private static string NewFolder()
    {
        var dir = Directory.CreateTempSubdirectory("relay-own-pg-").FullName;
        Process.Start("chmod", ["755", dir])!.WaitForExit();   // the postgres user must reach it
        if (IsRoot) Process.Start("chown", ["postgres:postgres", dir])!.WaitForExit();
        return dir;
    }

    public static async Task<OwnPostgres> StartAsync()
    {
        var dir = NewFolder();
        var data = Path.Combine(dir, "data");
        var pg = new OwnPostgres(dir);
        try
        {
            await RunAsync("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-locale", "-E", "UTF8");
            await File.AppendAllTextAsync(Path.Combine(data, "postgresql.conf"),
                $"\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{dir}'\nport = {pg.Port}\nfsync = off\nshared_buffers = 32MB\nmax_connections = 50\n");
            await pg.StartAgainAsync();
            return pg;
        }
        catch
        {
            await pg.DisposeAsync();   // no cluster or folder left behind by a failed start
            throw;
        }
    }

    /// A streaming replica of this cluster: `pg_basebackup -R` of it, started as a hot standby on
    /// a port of its own (the test's settings need nothing more: initdb's pg_hba trusts local
    /// replication, and wal_level replica is the default).
    public async Task<OwnPostgres> StartReplicaAsync()
    {
        var dir = NewFolder();
        var data = Path.Combine(dir, "data");
        var replica = new OwnPostgres(dir);
        try
        {
            await RunAsync("pg_basebackup", "-h", "127.0.0.1", "-p", Port.ToString(), "-U", "postgres", "-D", data, "-R", "-X", "stream", "-c", "fast");
            await File.AppendAllTextAsync(Path.Combine(data, "postgresql.conf"),
                $"\nport = {replica.Port}\nunix_socket_directories = '{dir}'\nhot_standby = on\n");
            await replica.StartAgainAsync();
            return replica;
        }
        catch
        {
            await replica.DisposeAsync();
            throw;
        }
    }

    public Task StartAgainAsync() => RunAsync("pg_ctl", "-D", Path.Combine(_dir, "data"), "-l", Path.Combine(_dir, "server.log"), "-w", "-t", "60", "start");

    /// Stops the server at once (`-m immediate`: like a crash, every connection dropped).
    public Task StopAsync() => RunAsync("pg_ctl", "-D", Path.Combine(_dir, "data"), "-w", "-m", "immediate", "stop");

    public async ValueTask DisposeAsync()
    {
        try { await StopAsync(); } catch (InvalidOperationException) { }   // already stopped, or never started
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
