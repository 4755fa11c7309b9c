namespace Detach.EndToEnd.Tests.Infrastructure;

/// <summary>
/// An empty Postfix queue_directory and data_directory, laid out once per test run by Postfix itself
/// (<c>postfix check</c> runs post-install create-missing, about 2 s) and copied with owners and modes
/// into each new instance. With a <c>quick-start</c> file in the copy, <c>postfix start</c> skips its
/// integrity checks and takes a few tenths of a second.
/// </summary>
internal static class PostfixQueueTemplate
{
    private static readonly Lazy<Task<string>> Template = new(CreateAsync);

    /// <summary>Copies the template's queue/ and data/ into <paramref name="instanceDirectory"/>.</summary>
    public static async Task CopyToAsync(string instanceDirectory, CancellationToken cancellationToken)
    {
        var template = await Template.Value.WaitAsync(cancellationToken);
        foreach (var folder in new[] { "queue", "data" })
        {
            (await ChildProcess.RunAsync(
                "cp", ["-a", Path.Combine(template, folder), Path.Combine(instanceDirectory, folder)],
                TimeSpan.FromSeconds(30), cancellationToken)).EnsureSuccess();
        }

        await File.WriteAllTextAsync(Path.Combine(instanceDirectory, "queue", "quick-start"), string.Empty, cancellationToken);
    }

    private static async Task<string> CreateAsync()
    {
        var directory = Directory.CreateTempSubdirectory("detach-postfix-template-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
                // Left for the OS's temp cleanup.
            }
        };

        var config = Path.Combine(directory, "etc");
        Directory.CreateDirectory(config);
        Directory.CreateDirectory(Path.Combine(directory, "queue"));
        Directory.CreateDirectory(Path.Combine(directory, "data"));
        (await ChildProcess.RunAsync("chown", ["postfix", Path.Combine(directory, "data")], TimeSpan.FromSeconds(10), CancellationToken.None))
            .EnsureSuccess();
        await File.WriteAllTextAsync(Path.Combine(config, "main.cf"), $"""
            compatibility_level = 3.6
            queue_directory = {directory}/queue
            data_directory = {directory}/data
            mail_owner = postfix
            setgid_group = postdrop
            maillog_file = {directory}/postfix.log
            maillog_file_prefixes = {directory}
            """);
        await File.WriteAllTextAsync(Path.Combine(config, "master.cf"), "postlog unix-dgram n - n - 1 postlogd\n");
        var check = await ChildProcess.RunAsync(
            PeerBinaries.Postfix!, ["-c", config, "check"], TimeSpan.FromSeconds(60), CancellationToken.None);
        if (!check.Succeeded)
        {
            throw new InvalidOperationException(
                $"Could not lay out a Postfix queue: {check}\n{await LogFiles.ReadAsync(Path.Combine(directory, "postfix.log"), CancellationToken.None)}");
        }

        return directory;
    }
}
