using System.Diagnostics;

namespace Detach.Gateway.Tests.Cli;

/// <summary>
/// The `detach` program itself (detach.dll beside the tests), run as a process the way an admin, a recipient or
/// Postfix's pipe service runs it. No DETACH__ variable leaks in from the test runner; each run names its own.
/// </summary>
public static class DetachProcess
{
    public static ProcessStartInfo StartInfo(string workingDirectory, IReadOnlyDictionary<string, string>? environment, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "detach.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("DETACH__", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(name);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        return start;
    }

    /// <summary>Runs one detach command to its end, <paramref name="stdin"/> (when given) as its standard input.</summary>
    public static Task<ProcessResult> RunAsync(
        string workingDirectory, IReadOnlyDictionary<string, string>? environment, byte[]? stdin, params string[] args) =>
        ChildProcess.RunAsync(StartInfo(workingDirectory, environment, args), TimeSpan.FromMinutes(5), TestContext.Current.CancellationToken, stdin);
}
