using System.Diagnostics;
using System.Text;

namespace Detach.Tests.Support;

/// <summary>What a finished process left behind.</summary>
public sealed record ProcessResult(string Command, int ExitCode, string StandardOutput, string StandardError)
{
    public bool Succeeded => ExitCode == 0;

    /// <summary>Throws with the whole output when the process failed, so a broken setup step says why.</summary>
    public ProcessResult EnsureSuccess()
    {
        if (!Succeeded)
        {
            throw new InvalidOperationException(
                $"`{Command}` exited with {ExitCode}.\nstdout:\n{StandardOutput}\nstderr:\n{StandardError}");
        }

        return this;
    }

    public override string ToString() => $"`{Command}` exit {ExitCode}\nstdout:\n{StandardOutput}\nstderr:\n{StandardError}";
}

/// <summary>
/// A process the tests started: output captured exactly as it arrives (capped, so a chatty peer cannot fill memory),
/// standard input given up front or closed at once, and the whole process tree killed on dispose, so no peer outlives
/// the test that started it.
/// </summary>
public sealed class ChildProcess : IAsyncDisposable
{
    /// <summary>Output beyond this many characters per stream is dropped (the first part is kept).</summary>
    public const int OutputLimit = 16 * 1024 * 1024;

    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly Task _outputRead;

    private ChildProcess(Process process, string command, ReadOnlyMemory<byte> standardInput)
    {
        _process = process;
        Command = command;
        _outputRead = Task.WhenAll(
            PumpAsync(process.StandardOutput, _stdout),
            PumpAsync(process.StandardError, _stderr),
            FeedAsync(process.StandardInput.BaseStream, standardInput));
    }

    /// <summary>The command line, for messages.</summary>
    public string Command { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public string StandardOutput
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

    public string StandardError
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>Starts <paramref name="fileName"/> with arguments passed verbatim (no shell, no quoting rules).</summary>
    public static ChildProcess Start(
        string fileName,
        IEnumerable<string> arguments,
        string? workingDirectory = null,
        IReadOnlyDictionary<string, string>? environment = null,
        ReadOnlyMemory<byte> standardInput = default) =>
        Start(StartInfo(fileName, arguments, workingDirectory, environment), standardInput);

    /// <summary>
    /// Starts the process <paramref name="info"/> describes, its three streams redirected; <paramref name="standardInput"/>
    /// is written and then closed (peers that read stdin see EOF instead of blocking forever).
    /// </summary>
    public static ChildProcess Start(ProcessStartInfo info, ReadOnlyMemory<byte> standardInput = default)
    {
        ArgumentNullException.ThrowIfNull(info);
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.RedirectStandardInput = true;
        info.UseShellExecute = false;
        var command = string.Join(' ', info.ArgumentList.Prepend(info.FileName).Select(Quote));
        var process = Process.Start(info) ?? throw new InvalidOperationException($"`{command}` did not start.");
        return new ChildProcess(process, command, standardInput);
    }

    /// <summary>A start description with arguments passed verbatim and <paramref name="environment"/> added to the inherited one.</summary>
    public static ProcessStartInfo StartInfo(
        string fileName,
        IEnumerable<string> arguments,
        string? workingDirectory = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(fileName) { WorkingDirectory = workingDirectory ?? string.Empty };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        return info;
    }

    /// <summary>Runs a command to completion; kills it and throws <see cref="TimeoutException"/> past <paramref name="timeout"/>.</summary>
    public static async Task<ProcessResult> RunAsync(
        string fileName,
        IEnumerable<string> arguments,
        TimeSpan timeout,
        CancellationToken cancellationToken,
        string? workingDirectory = null,
        IReadOnlyDictionary<string, string>? environment = null,
        ReadOnlyMemory<byte> standardInput = default) =>
        await RunAsync(StartInfo(fileName, arguments, workingDirectory, environment), timeout, cancellationToken, standardInput);

    /// <summary>Runs the process <paramref name="info"/> describes to completion, as the other overload does.</summary>
    public static async Task<ProcessResult> RunAsync(
        ProcessStartInfo info, TimeSpan timeout, CancellationToken cancellationToken, ReadOnlyMemory<byte> standardInput = default)
    {
        await using var child = Start(info, standardInput);
        return await child.WaitForExitAsync(timeout, cancellationToken);
    }

    /// <summary>Waits for the process to exit and for its output to be read to the end.</summary>
    public async Task<ProcessResult> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        try
        {
            await _process.WaitForExitAsync(timeoutSource.Token);
            await _outputRead.WaitAsync(timeoutSource.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            Kill();
            throw new TimeoutException(
                $"`{Command}` still running after {timeout.TotalSeconds:0.#} s; killed.\nstdout:\n{StandardOutput}\nstderr:\n{StandardError}");
        }

        return new ProcessResult(Command, _process.ExitCode, StandardOutput, StandardError);
    }

    /// <summary>Kills the process and everything it started.</summary>
    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // It exited between the check and the kill.
        }
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            // A process stuck in the kernel cannot be helped; do not hang the test run on it.
        }

        _process.Dispose();
    }

    private static async Task PumpAsync(StreamReader reader, StringBuilder output)
    {
        var buffer = new char[8192];
        int read;
        while ((read = await reader.ReadAsync(buffer)) > 0)
        {
            lock (output)
            {
                output.Append(buffer, 0, Math.Min(read, Math.Max(0, OutputLimit - output.Length)));
            }
        }
    }

    private static async Task FeedAsync(Stream input, ReadOnlyMemory<byte> bytes)
    {
        try
        {
            if (!bytes.IsEmpty)
            {
                await input.WriteAsync(bytes);
            }

            await input.DisposeAsync();
        }
        catch (IOException)
        {
            // The process exited (or closed its stdin) before reading everything: its exit code tells the test.
        }
    }

    private static string Quote(string argument) =>
        argument.Length > 0 && argument.All(c => char.IsLetterOrDigit(c) || "-_./:=@,+%".Contains(c))
            ? argument
            : "'" + argument.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
