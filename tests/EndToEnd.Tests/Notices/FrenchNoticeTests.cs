using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Detach.EndToEnd.Tests.Infrastructure;
using Detach.EndToEnd.Tests.Proxy;
using Detach.Mime;

namespace Detach.EndToEnd.Tests.Notices;

/// <summary>
/// Policy:Language=fr through the real before-queue proxy: the mail Postfix delivers carries the French notice in
/// its text body (now UTF-8 quoted-printable) and its HTML body (character references), and the link written in
/// the notice downloads the file from the gateway.
/// </summary>
public sealed partial class FrenchNoticeTests : IDisposable
{
    private readonly DirectoryInfo _scratch = Directory.CreateTempSubdirectory("detach-e2e-notice-");

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    public void Dispose() => _scratch.Delete(recursive: true);

    [Fact]
    public async Task A_french_notice_reaches_the_mailbox_and_its_link_downloads_the_file()
    {
        PeerBinaries.RequirePostfix();
        PeerBinaries.RequireSwaks();
        await using var setup = await PostfixWithDetach.StartAsync(Token, ["Policy:Language=fr", "Gateway:MaxDownloadsPerLink=2"]);
        var file = RandomNumberGenerator.GetBytes(300 * 1024);
        var messageId = TestFiles.NewMessageId("french-notice");
        var message = Path.Combine(_scratch.FullName, "message.eml");
        await File.WriteAllTextAsync(message, $"""
            From: {PostfixWithDetach.Sender}
            To: {PostfixInstance.Address("alice")}
            Subject: Rapport
            Message-ID: {messageId}
            MIME-Version: 1.0
            Content-Type: multipart/mixed; boundary="mixed"

            --mixed
            Content-Type: multipart/alternative; boundary="alt"

            --alt
            Content-Type: text/plain; charset=us-ascii
            Content-Transfer-Encoding: 7bit

            Bonjour, voici le rapport.

            --alt
            Content-Type: text/html; charset=us-ascii
            Content-Transfer-Encoding: 7bit

            <html><body><p>Bonjour, voici le rapport.</p></body></html>

            --alt--

            --mixed
            Content-Type: application/pdf; name="rapport.pdf"
            Content-Disposition: attachment; filename="rapport.pdf"
            Content-Transfer-Encoding: base64

            {Convert.ToBase64String(file, Base64FormattingOptions.InsertLineBreaks)}
            --mixed--

            """.ReplaceLineEndings("\r\n"), Token);

        var result = await setup.Swaks().To(PostfixInstance.Address("alice")).DataFromFile(message).RunAsync(Token);
        Assert.True(result.ExitCode == 0, result.ToString());
        var mail = Assert.Single(await setup.WaitForCopiesAsync("alice", messageId, Token));
        Assert.All(mail.Raw, c => Assert.True(c < 0x80, "the delivered mail is not 7-bit"));

        var structure = await MimeStructure.ParseAsync(new MemoryStream(Encoding.Latin1.GetBytes(mail.Raw)), cancellationToken: Token);
        var plain = structure.Root.DescendantsAndSelf().First(e => e.MimeType == "text/plain");
        Assert.Equal((TransferEncoding.QuotedPrintable, "utf-8"), (plain.TransferEncoding, plain.ContentType.Parameters["charset"]));
        // Maildir delivery writes LF line endings.
        var text = Encoding.UTF8.GetString(await ReadAllAsync(structure.OpenBody(plain))).ReplaceLineEndings("\n");
        Assert.StartsWith("Bonjour, voici le rapport.\n\n-- \n1 pièce jointe a été retirée de ce message par Detach et peut être\ntéléchargée\u00A0:\n\n* rapport.pdf\n", text, StringComparison.Ordinal);
        Assert.Matches("\n  307 ko, disponible jusqu’au 20\\d\\d-\\d\\d-\\d\\d \\d\\d:\\d\\d UTC, 2 téléchargements au plus\n  <http://127\\.0\\.0\\.1:\\d+/d/[a-z2-7]+#[A-Za-z0-9_-]{43}>\n$", text);

        var html = Encoding.ASCII.GetString(await ReadAllAsync(structure.OpenBody(structure.Root.DescendantsAndSelf().First(e => e.MimeType == "text/html"))));
        Assert.Contains("<p lang=\"fr\">1 pi&#232;ce jointe a &#233;t&#233; retir&#233;e de ce message par Detach et peut &#234;tre t&#233;l&#233;charg&#233;e&#160;:</p>", html, StringComparison.Ordinal);
        Assert.Contains("<span lang=\"fr\">307 ko, disponible jusqu&#8217;au ", html, StringComparison.Ordinal);

        // The link as the notice writes it, downloaded as a recipient's client would: the key in a header, never in the URL.
        var link = new Uri(NoticeLink().Match(text).Groups[1].Value);
        Assert.Equal(mail.Links.Single(), link.AbsoluteUri);
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(link, link.AbsolutePath + "/file"));
        request.Headers.Add("X-Detach-Key", link.Fragment.TrimStart('#'));
        using var response = await http.SendAsync(request, Token);
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(Token)}");
        Assert.Equal(SHA256.HashData(file), SHA256.HashData(await response.Content.ReadAsByteArrayAsync(Token)));
    }

    private static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        await using (stream)
        {
            using var copy = new MemoryStream();
            await stream.CopyToAsync(copy, Token);
            return copy.ToArray();
        }
    }

    [GeneratedRegex("\n  <(http[^>]+)>\n")]
    private static partial Regex NoticeLink();
}
