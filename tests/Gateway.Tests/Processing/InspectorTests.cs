using Detach.Gateway.Hosting;
using Detach.Gateway.Metrics;
using Detach.Gateway.Processing;
using Detach.Gateway.Tests.Cli;
using Detach.Mime;
using Detach.Smtp;
using Detach.Vault.Index;
using Microsoft.Extensions.Logging.Abstractions;

namespace Detach.Gateway.Tests.Processing;

/// <summary>The scanner's seam: an inspector sees each attachment's decoded bytes once, on their way into the vault, and may refuse.</summary>
public sealed class InspectorTests
{
    [Fact]
    public async Task An_inspector_sees_each_attachments_decoded_bytes_once_before_the_vault_has_them()
    {
        var token = TestContext.Current.CancellationToken;
        using var data = new DataFolder();
        var attachment = DataFolder.RandomBytes(300_000, 11);
        var inspector = new RecordingInspector();
        await using var components = await VaultComponents.OpenAsync(data.Settings(), token);

        await using (var message = await PrepareAsync(components, data, DataFolder.MessageWith(attachment, messageId: "<seen@example.com>"), inspector))
        {
            await message.CommitAsync(token);
        }

        var inspection = Assert.Single(inspector.Inspections);
        Assert.Equal("report.pdf", inspection.Attachment.FileName);
        Assert.Equal("<seen@example.com>", inspection.Attachment.Message.MessageId);
        Assert.Equal(attachment, inspection.Content.ToArray());
        Assert.Equal(1, inspection.Completions);
        Assert.True(inspection.Disposed);
        var record = Assert.Single(await components.Index.FindByMessageIdAsync("<seen@example.com>", token));
        Assert.Equal(attachment.Length, record.PlaintextSize);
        Assert.Equal(StoreState.Stored, record.StoreState);
    }

    [Fact]
    public async Task A_refusal_at_the_end_of_the_content_propagates_as_thrown_and_nothing_stays_stored()
    {
        var token = TestContext.Current.CancellationToken;
        using var data = new DataFolder();
        var refusal = new MessageRefusedException(new SmtpReply(554, "5.7.1", "Virus found: Eicar-Test-Signature"));
        var inspector = new RecordingInspector { RefuseWith = refusal };
        await using var components = await VaultComponents.OpenAsync(data.Settings(), token);

        var thrown = await Assert.ThrowsAsync<MessageRefusedException>(
            () => PrepareAsync(components, data, DataFolder.MessageWith(DataFolder.RandomBytes(50_000, 12), messageId: "<refused@example.com>"), inspector));

        Assert.Same(refusal, thrown);
        Assert.True(Assert.Single(inspector.Inspections).Disposed);
        Assert.All(await components.Index.FindByMessageIdAsync("<refused@example.com>", token), r => Assert.NotEqual(StoreState.Stored, r.StoreState));
    }

    private static async Task<DetachedMessage> PrepareAsync(VaultComponents components, DataFolder data, byte[] message, IAttachmentInspector inspector)
    {
        using var metrics = new DetachMetrics();
        var detacher = new MessageDetacher(components.Vault, data.Settings(), metrics, NullLogger<MessageDetacher>.Instance, [inspector]);
        return await detacher.PrepareAsync(new MemoryStream(message), new MessageEnvelope("ann@example.com", 1), TestContext.Current.CancellationToken);
    }

    private sealed class RecordingInspector : IAttachmentInspector
    {
        public List<Inspection> Inspections { get; } = [];

        public Exception? RefuseWith { get; init; }

        public ValueTask<IAttachmentInspection> BeginAsync(AttachmentDescriptor attachment, CancellationToken cancellationToken)
        {
            var inspection = new Inspection(attachment, RefuseWith);
            Inspections.Add(inspection);
            return ValueTask.FromResult<IAttachmentInspection>(inspection);
        }
    }

    private sealed class Inspection(AttachmentDescriptor attachment, Exception? refuseWith) : IAttachmentInspection
    {
        public AttachmentDescriptor Attachment => attachment;

        public MemoryStream Content { get; } = new();

        public int Completions { get; private set; }

        public bool Disposed { get; private set; }

        public ValueTask WriteAsync(ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
        {
            Content.Write(content.Span);
            return ValueTask.CompletedTask;
        }

        public ValueTask<string?> CompleteAsync(CancellationToken cancellationToken)
        {
            Completions++;
            return refuseWith is null ? ValueTask.FromResult<string?>(null) : ValueTask.FromException<string?>(refuseWith);
        }

        public ValueTask DisposeAsync()
        {
            Disposed = true;
            return ValueTask.CompletedTask;
        }
    }
}
