using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Detach.EndToEnd.Tests.Infrastructure;

namespace Detach.EndToEnd.Tests.Scanning;

/// <summary>Files that carry the EICAR test file in the ways mail does: plain, inside a zip, inside an attached message.</summary>
public static class ScanSamples
{
    /// <summary>A zip holding <c>readme.txt</c> (random, stored, <paramref name="padding"/> bytes) and <c>eicar.com</c>.</summary>
    public static byte[] ZipWithEicar(int padding = 8 * 1024)
    {
        var zip = new MemoryStream();
        using (var archive = new ZipArchive(zip, ZipArchiveMode.Create, leaveOpen: true))
        {
            // Random bytes that do not compress keep the archive above Policy:MinSizeBytes.
            using (var readme = archive.CreateEntry("readme.txt", CompressionLevel.NoCompression).Open())
            {
                readme.Write(RandomNumberGenerator.GetBytes(padding));
            }

            using var eicar = archive.CreateEntry("eicar.com", CompressionLevel.Optimal).Open();
            eicar.Write(EicarTestFile.Bytes);
        }

        return zip.ToArray();
    }

    /// <summary>A whole message (CRLF) whose attachment <paramref name="fileName"/> carries <paramref name="content"/> in base64.</summary>
    public static byte[] MessageWithAttachment(string fileName, byte[] content, string subject = "forwarded", string messageId = "<inner@e2e.example.test>")
    {
        var text = new StringBuilder()
            .Append("From: inner@example.test\r\nTo: someone@example.test\r\n")
            .Append("Subject: ").Append(subject).Append("\r\nMessage-ID: ").Append(messageId).Append("\r\n")
            .Append("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"inner-boundary\"\r\n\r\n")
            .Append("--inner-boundary\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSee attached.\r\n")
            .Append("--inner-boundary\r\nContent-Type: application/octet-stream; name=\"").Append(fileName).Append("\"\r\n")
            .Append("Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"").Append(fileName).Append("\"\r\n\r\n")
            .Append(Convert.ToBase64String(content, Base64FormattingOptions.InsertLineBreaks)).Append("\r\n")
            .Append("--inner-boundary--\r\n");
        return Encoding.ASCII.GetBytes(text.ToString());
    }
}
