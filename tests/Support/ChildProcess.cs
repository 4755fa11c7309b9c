using System.Diagnostics;
using System.Text;

namespace Detach.EndToEnd.Tests.Infrastructure;

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
/// A process the tests started: output captured as it arrives (capped, so a chatty peer cannot fill memory),
/// and the whole process tree killed on dispose, so no peer outlives the test that started it.
/// </summary>
public sealed class ChildProcess : IAsyncDisposable
{
    /// <summary>Output beyond this many characters per stream is dropped (the first part is kept).</summary>
    public const int OutputLimit = 4 * 1024 * 1024;

    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stderrClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ChildProcess(Process process, string command)
    {
        _process = process;
        Command = command;
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
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? string.Empty,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        var command = string.Join(' ', info.ArgumentList.Prepend(fileName).Select(Quote));
        var process = new Process { StartInfo = info };
        var child = new ChildProcess(process, command);
        process.OutputDataReceived += (_, e) => child.Append(child._stdout, child._stdoutClosed, e.Data);
        process.ErrorDataReceived += (_, e) => child.Append(child._stderr, child._stderrClosed, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        // Peers that read stdin (none should) see EOF instead of blocking forever.
        process.StandardInput.Close();
        return child;
    }

    /// <summary>Runs a command to completion; kills it and throws <see cref="TimeoutException"/> past <paramref name="timeout"/>.</summary>
    public static async Task<ProcessResult> RunAsync(
        string fileName,
        IEnumerable<string> arguments,
        TimeSpan timeout,
        CancellationToken cancellationToken,
        string? workingDirectory = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        await using var child = Start(fileName, arguments, workingDirectory, environment);
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
            await Task.WhenAll(_stdoutClosed.Task, _stderrClosed.Task).WaitAsync(timeoutSource.Token);
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

    private void Append(StringBuilder buffer, TaskCompletionSource closed, string? line)
    {
        if (line is null)
        {
            closed.TrySetResult();
            return;
        }

        lock (buffer)
        {
            if (buffer.Length + line.Length < OutputLimit)
            {
                buffer.Append(line).Append('\n');
            }
        }
    }

    private static string Quote(string argument) =>
        argument.Length > 0 && argument.All(c => char.IsLetterOrDigit(c) || "-_./:=@,+%".Contains(c))
            ? argument
            : "'" + argument.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
