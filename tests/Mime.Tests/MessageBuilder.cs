using System.Text;

namespace Detach.Mime.Tests;

internal static class MessageBuilder
{
    public static byte[] RandomBytes(int length, int seed = 1)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>Base64 in 76-character lines joined by <paramref name="eol"/>, no final line ending.</summary>
    public static string Base64Lines(byte[] data, string eol = "\r\n")
    {
        string b64 = Convert.ToBase64String(data);
        var sb = new StringBuilder();
        for (int i = 0; i < b64.Length; i += 76)
        {
            if (i > 0)
            {
                sb.Append(eol);
            }

            sb.Append(b64, i, Math.Min(76, b64.Length - i));
        }
        return sb.ToString();
    }

    /// <summary>multipart/mixed with a text body and one base64 attachment; "\n" in the result becomes <paramref name="eol"/>.</summary>
    public static string WithAttachment(byte[] data, string attachmentHeaders = "Content-Type: application/pdf; name=\"report.pdf\"\nContent-Disposition: attachment; filename=\"report.pdf\"",
        string text = "Hello,\nplease find the report attached.\n", string eol = "\r\n")
    {
        string message =
            "From: Alice <alice@example.org>\n" +
            "To: Bob <bob@example.org>\n" +
            "Subject: Report\n" +
            "MIME-Version: 1.0\n" +
            "Content-Type: multipart/mixed; boundary=\"b1\"\n" +
            "\n" +
            "This is a multi-part message in MIME format.\n" +
            "--b1\n" +
            "Content-Type: text/plain; charset=us-ascii\n" +
            "\n" +
            text +
            "--b1\n" +
            attachmentHeaders + "\n" +
            "Content-Transfer-Encoding: base64\n" +
            "\n" +
            Base64Lines(data, "\n") + "\n" +
            "--b1--\n" +
            "epilogue\n";
        return message.Replace("\n", eol, StringComparison.Ordinal);
    }
}
