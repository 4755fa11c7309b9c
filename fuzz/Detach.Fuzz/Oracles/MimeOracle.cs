using System.Security.Cryptography;

// The names TreeComparison (linked from tests/Mime.Tests) expects, without xunit.
namespace Detach.Mime.Tests;

/// <summary>A sink that drains what it is given and hands back a link of the shape the oracle looks for.</summary>
internal sealed class RecordingSink : IAttachmentSink
{
    public List<Stored> Items { get; } = [];

    public sealed record Stored(AttachmentDescriptor Descriptor, long Size);

    public async Task<DetachedAttachment> StoreAsync(AttachmentDescriptor attachment, Stream decodedContent, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[8192];
        long size = 0;
        int n;
        while ((n = await decodedContent.ReadAsync(buffer, cancellationToken)) > 0)
        {
            hash.AppendData(buffer, 0, n);
            size += n;
        }

        Items.Add(new Stored(attachment, size));
        string sha = Convert.ToHexStringLower(hash.GetHashAndReset());
        return new DetachedAttachment(attachment.FileName, attachment.ContentType, size, $"https://vault.example.org/d/bafkrei{sha[..40]}#k{Items.Count}{sha[40..]}", null);
    }
}

internal static class Mail
{
    public static Task<MimeStructure> ParseAsync(byte[] input) => MimeStructure.ParseAsync(new MemoryStream(input, writable: false));

    public static async Task<byte[]> ReadAllAsync(Stream stream)
    {
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer);
        return buffer.ToArray();
    }
}
