using System.CommandLine;
using System.Diagnostics;
using Detach.Gateway.Configuration;
using Detach.Gateway.Hosting;
using Detach.Gateway.Metrics;
using Detach.Gateway.Processing;
using Detach.Gateway.Scanning;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Detach.Gateway.Cli;

/// <summary>
/// `detach filter [-f SENDER] [-- RECIPIENTS...]`: reads one message on standard input, stores its attachments and
/// writes the rewritten message to standard output, or re-injects it with sendmail for the given recipients (Postfix's
/// pipe transport / after-queue simple filter). Exit codes follow sendmail: 0 delivered, 75 try again later.
/// </summary>
public static class FilterCommand
{
    public static Command Create()
    {
        var sender = new Option<string?>("--sender", "-f") { Description = "Envelope sender: passed to sendmail, and its domain is recorded in the index." };
        var sendmail = new Option<string>("--sendmail")
        {
            Description = "The sendmail program that re-injects the rewritten message when recipients are given.",
            DefaultValueFactory = _ => "/usr/sbin/sendmail",
        };
        var recipients = new Argument<string[]>("recipients")
        {
            Description = "Envelope recipients (after '--'): re-inject with sendmail -G -i -f SENDER -- RECIPIENTS. Without them the message goes to standard output.",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var command = new Command("filter", "Detach the attachments of one message from standard input (Postfix pipe / after-queue filter).") { sender, sendmail, recipients };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var settings = DetachCommandLine.LoadSettings(parse);
            var to = parse.GetValue(recipients) ?? [];
            var from = parse.GetValue(sender);
            string[] reinject = to.Length == 0 ? [] : [parse.GetValue(sendmail)!, "-G", "-i", "-f", from ?? "", "--", .. to];
            var envelope = new MessageEnvelope(from, Math.Max(1, to.Length));
            await using var stdin = Console.OpenStandardInput();
            await using var stdout = Console.OpenStandardOutput();
            return await RunAsync(settings, stdin, stdout, reinject, envelope, Console.Error, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    public static async Task<int> RunAsync(
        DetachSettings settings, Stream input, Stream output, IReadOnlyList<string> reinject, MessageEnvelope envelope,
        TextWriter error, CancellationToken cancellationToken)
    {
        try
        {
            await using var components = await VaultComponents.OpenAsync(settings, cancellationToken).ConfigureAwait(false);
            using var metrics = new DetachMetrics();
            var scan = ScanInspector.Create(settings.Scan, metrics, NullLogger<ScanInspector>.Instance);
            var detacher = new MessageDetacher(components.Vault, settings, metrics, NullLogger<MessageDetacher>.Instance, scan is null ? [] : [scan]);
            await using var spool = SpoolFile.Create(settings.Root.FullDataPath);
            if (!await CopyWithLimitAsync(input, spool, settings.Smtp.MaxMessageBytes, cancellationToken).ConfigureAwait(false))
            {
                await error.WriteLineAsync($"detach filter: message larger than Smtp:MaxMessageBytes ({settings.Smtp.MaxMessageBytes} bytes).").ConfigureAwait(false);
                return ExitCodes.DataError;
            }

            if (reinject.Count == 0)
            {
                await using var message = await detacher.PrepareAsync(spool, envelope, cancellationToken).ConfigureAwait(false);
                await message.CommitAsync(cancellationToken).ConfigureAwait(false);
                await message.WriteToAsync(output, cancellationToken).ConfigureAwait(false);
                await output.FlushAsync(cancellationToken).ConfigureAwait(false);
                message.CountDelivered();
                return ExitCodes.Ok;
            }

            return await ReinjectAsync(detacher, spool, reinject, envelope, error, cancellationToken).ConfigureAwait(false);
        }
        catch (MessageRefusedException e)
        {
            // Refused on purpose (policy): a permanent refusal bounces (a security one, 5.7.x, as "permission denied"),
            // a temporary one is retried.
            await error.WriteLineAsync($"detach filter: message refused: {e.Reply.Code} {e.Reply.EnhancedCode} {e.Reply.Text}").ConfigureAwait(false);
            return !e.Reply.IsPermanentFailure ? ExitCodes.TempFail
                : e.Reply.EnhancedCode?.StartsWith("5.7.", StringComparison.Ordinal) == true ? ExitCodes.NoPermission
                : ExitCodes.DataError;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Storage down, disk full, index locked, a bug: the MTA keeps the message and tries again later.
            await error.WriteLineAsync($"detach filter: temporary failure, the message was not delivered: {e.GetType().Name}: {e.Message}").ConfigureAwait(false);
            return e is ConfigurationException ? ExitCodes.Config : ExitCodes.TempFail;
        }
    }

    private static async Task<int> ReinjectAsync(
        MessageDetacher detacher, Stream spool, IReadOnlyList<string> argv, MessageEnvelope envelope, TextWriter error, CancellationToken cancellationToken)
    {
        // The attachments are stored before the reinjection command starts: a storage failure starts nothing.
        await using var message = await detacher.PrepareAsync(spool, envelope, cancellationToken).ConfigureAwait(false);
        var start = new ProcessStartInfo(argv[0]) { RedirectStandardInput = true, UseShellExecute = false };
        foreach (var arg in argv.Skip(1))
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Cannot start {argv[0]}.");
        try
        {
            var stdin = process.StandardInput.BaseStream;
            await message.WriteToAsync(stdin, cancellationToken).ConfigureAwait(false);

            // Live before the command sees the end of its input: from then on it may deliver whatever we learn.
            await message.CommitAsync(cancellationToken).ConfigureAwait(false);
            await stdin.FlushAsync(cancellationToken).ConfigureAwait(false);
            process.StandardInput.Close();
        }
        catch
        {
            // Never let the reinjection command take a half-written message: kill it before closing its input.
            process.Kill(entireProcessTree: true);
            throw;
        }

        await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            await message.AbandonAsync(cancellationToken).ConfigureAwait(false);
            await error.WriteLineAsync($"detach filter: {argv[0]} exited with {process.ExitCode}; the message was not delivered.").ConfigureAwait(false);
            // sendmail's own sysexits code says best whether to retry; anything else becomes a retry.
            return process.ExitCode is >= 64 and <= 78 ? process.ExitCode : ExitCodes.TempFail;
        }

        message.CountDelivered();
        return ExitCodes.Ok;
    }

    private static async Task<bool> CopyWithLimitAsync(Stream input, Stream spool, long limit, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        long total = 0;
        int read;
        while ((read = await input.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            total += read;
            if (total > limit)
            {
                return false;
            }

            await spool.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
        }

        await spool.FlushAsync(cancellationToken).ConfigureAwait(false);
        return true;
    }
}
