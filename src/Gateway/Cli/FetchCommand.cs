using System.CommandLine;
using Detach.Gateway.Configuration;
using Detach.Gateway.Fetch;
using Detach.Mime;
using Detach.Vault;

namespace Detach.Gateway.Cli;

/// <summary>What `detach fetch` was asked to do.</summary>
/// <param name="Output">A file, a folder, "-" for standard output, or null for the offered name in the working folder.</param>
public sealed record FetchRequest(string Link, string? Output = null, bool Continue = false, bool Local = false, bool Quiet = false, bool Progress = false);

/// <summary>
/// `detach fetch LINK`: downloads an attachment from the link's own host, as a recipient or a helpdesk on any machine
/// can (<see cref="RemoteFetcher"/>). Operators can decrypt from this instance's vault instead (`--local`, or
/// automatically when the link is under this instance's PublicUrl and its vault is here: <see cref="LocalFetch"/>).
/// </summary>
public static class FetchCommand
{
    public const string Help = """
        Download an attachment, given its link, from the host in the link.

        The key (the part after #) is sent in the X-Detach-Key header, never in a URL. The file is saved under the
        name the server offers (stripped of folders and control characters; an existing file is not replaced, the
        new one becomes "name (1).ext") unless -o says where. An interrupted download leaves detach-<cid>.part
        behind; --continue resumes it with a Range request tied to the file's ETag (If-Range), so bytes of another
        object are never spliced on. HTTPS uses the system's trust store (SSL_CERT_FILE/SSL_CERT_DIR override it);
        HTTP(S)_PROXY are honoured. On a terminal a progress line shows the rate and the time left.

        What is checked: the gateway authenticates every 64 KiB record (HMAC-SHA256) before it sends it and breaks
        the connection on a forged one; detach fetch checks that every announced byte arrived and that a resumed
        part continues the same object. What cannot be checked here: the second key share stays on the server, which
        decrypts, so you rely on the gateway at the link's host for the content. Prefer https links.

        Exit codes: 0 saved; 64 bad link or options; 65 damaged file (--local); 66 no such file (404); 68 unknown
        host; 69 gone for good: expired, withdrawn or download limit used up (410); 73/74 cannot write the output;
        75 try again later (429, 503, network error, interrupted transfer: add --continue); 76 unexpected answer or
        TLS failure; 77 the key does not open this file (403); 130 stopped with Ctrl+C.

        Operators: --local decrypts from this instance's vault (DataPath, index, store) instead; that is also what
        happens when the link is under this instance's PublicUrl and the vault is here.
        """;

    public static Command Create()
    {
        var link = new Argument<string>("link") { Description = "The whole link from the mail, including the part after #." };
        var output = new Option<string?>("--output", "-o")
        {
            Description = "Save to this file, or into this folder; - writes to standard output. Default: the offered name, here.",
        };
        var resume = new Option<bool>("--continue", "-c") { Description = "Resume an interrupted download from the part it left (detach-<cid>.part)." };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress line and no notes: errors only." };
        var local = new Option<bool>("--local") { Description = "Decrypt from this instance's vault instead of asking the link's host (operators)." };
        var command = new Command("fetch", Help) { link, output, resume, quiet, local };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var request = new FetchRequest(parse.GetValue(link)!, parse.GetValue(output), parse.GetValue(resume), parse.GetValue(local), parse.GetValue(quiet),
                Progress: !parse.GetValue(quiet) && !Console.IsErrorRedirected);
            return await RunAsync(DetachCommandLine.LoadSettings(parse), request, Console.Error, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>The link into <paramref name="output"/> (null: standard output), from wherever the link says.</summary>
    public static Task<int> RunAsync(DetachSettings settings, string link, FileInfo? output, TextWriter error, CancellationToken cancellationToken) =>
        RunAsync(settings, new FetchRequest(link, output?.FullName ?? FetchTarget.StandardOutput), error, cancellationToken);

    public static async Task<int> RunAsync(DetachSettings settings, FetchRequest request, TextWriter error, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(error);
        DownloadLink link;
        try
        {
            link = DownloadLink.Parse(request.Link.Trim());
        }
        catch (FormatException e)
        {
            await error.WriteLineAsync($"detach fetch: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        if (request.Continue && request.Output == FetchTarget.StandardOutput)
        {
            await error.WriteLineAsync("detach fetch: --continue needs a file to add to; standard output cannot be resumed.").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        if (request.Local || IsThisInstance(settings, link))
        {
            return await LocalFetch.RunAsync(settings, link, request.Output, error, cancellationToken).ConfigureAwait(false);
        }

        using var http = RemoteFetcher.CreateHttpClient();
        var fetcher = new RemoteFetcher(
            http,
            Console.OpenStandardOutput,
            (name, total, have) => request.Progress ? new TransferProgress(error, name, total, have, TerminalWidth) : null,
            request.Quiet ? TextWriter.Null : error);
        try
        {
            var file = await fetcher.FetchAsync(link, new FetchTarget(request.Output, request.Continue), cancellationToken).ConfigureAwait(false);
            if (!request.Quiet)
            {
                var resumed = file.Resumed > 0 ? $", resumed at {SizeText.Format(file.Resumed)}" : "";
                await error.WriteLineAsync(file.SavedAs is null
                    ? $"wrote {file.Name} ({SizeText.Format(file.Length)}) to standard output"
                    : $"saved {file.Name} ({SizeText.Format(file.Length)}{resumed}) as {file.SavedAs}").ConfigureAwait(false);
            }

            return ExitCodes.Ok;
        }
        catch (FetchFailedException e)
        {
            await error.WriteLineAsync($"detach fetch: {e.Message}").ConfigureAwait(false);
            return e.ExitCode;
        }
    }

    /// <summary>The link is under this instance's PublicUrl and this instance's vault is here: read it directly.</summary>
    public static bool IsThisInstance(DetachSettings settings, DownloadLink link)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(link);
        return Uri.TryCreate(settings.Root.PublicUrl, UriKind.Absolute, out var own)
            && Uri.TryCreate(link.BaseUrl, UriKind.Absolute, out var linked)
            && string.Equals(Base(own), Base(linked), StringComparison.OrdinalIgnoreCase)
            && LocalVault.WhyMissing(settings) is null;

        static string Base(Uri url) => url.GetLeftPart(UriPartial.Path).TrimEnd('/');
    }

    private static int TerminalWidth()
    {
        try
        {
            return Console.WindowWidth > 0 ? Console.WindowWidth : 80;
        }
        catch (IOException)
        {
            return 80;
        }
    }
}
