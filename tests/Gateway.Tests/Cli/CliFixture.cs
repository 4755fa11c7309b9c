using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Detach.Gateway.Configuration;

namespace Detach.Gateway.Tests.Cli;

/// <summary>A private data folder and messages with real attachment bytes, for driving the commands as a user would.</summary>
public sealed partial class DataFolder : IDisposable
{
    public DataFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "detach-cli-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public DetachSettings Settings(params string[] overrides) =>
        DetachSettings.Load(DetachConfiguration.Build(null, [$"DataPath={Path}", "PublicUrl=https://files.example.com", .. overrides]));

    public void Dispose() => Directory.Delete(Path, recursive: true);

    /// <summary>A multipart/mixed message with a text body and one base64 attachment, CRLF line endings.</summary>
    public static byte[] MessageWith(byte[] attachment, string fileName = "report.pdf", string messageId = "<cli-test@example.com>")
    {
        var base64 = Convert.ToBase64String(attachment, Base64FormattingOptions.InsertLineBreaks);
        var text = $"""
            From: Ann Sender <ann@example.com>
            To: bob@example.test
            Subject: quarterly report
            Message-ID: {messageId}
            MIME-Version: 1.0
            Content-Type: multipart/mixed; boundary="b1"

            --b1
            Content-Type: text/plain; charset=us-ascii

            Hello Bob, the report is attached.

            --b1
            Content-Type: application/pdf; name="{fileName}"
            Content-Disposition: attachment; filename="{fileName}"
            Content-Transfer-Encoding: base64

            {base64}
            --b1--

            """;
        return Encoding.ASCII.GetBytes(text.ReplaceLineEndings("\r\n"));
    }

    public static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public static IReadOnlyList<string> Links(string message) =>
        LinkPattern().Matches(message).Select(m => m.Value).Distinct().ToList();

    public static string Sha256(byte[] data) => Convert.ToHexString(SHA256.HashData(data));

    [GeneratedRegex(@"https?://[^\s/]+/d/[a-z2-7]+#[A-Za-z0-9_-]{43}")]
    private static partial Regex LinkPattern();
}
