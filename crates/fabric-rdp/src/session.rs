//! The session task: one for the RDP session's whole lifetime, running the
//! IronRDP active stage. It decodes every server PDU into the shared
//! framebuffer and marks the tiles each graphics update touched; it carries
//! out the Deactivation-Reactivation sequence (a server-side resize), display
//! control resizes and clipboard requests. It never waits for a client: the
//! connection outlives them. Writes to the server go through one writer task
//! that input shares, so keystrokes never queue behind decoding.

use std::sync::Arc;
use std::time::Duration;

use ironrdp_cliprdr::backend::ClipboardMessage;
use ironrdp_cliprdr::CliprdrClient;
use ironrdp_connector::connection_activation::{ConnectionActivationSequence, ConnectionActivationState};
use ironrdp_connector::ConnectionResult;
use ironrdp_core::WriteBuf;
use ironrdp_displaycontrol::pdu::MonitorLayoutEntry;
use ironrdp_session::{ActiveStage, ActiveStageBuilder, ActiveStageOutput};
use ironrdp_tokio::{FramedWrite as _, TokioFramed};
use tokio::io::{ReadHalf, WriteHalf};
use tokio::sync::{mpsc, Notify};

use crate::connect::RdpStream;
use crate::events::EndReason;
use crate::hub::{DesktopInfo, Hub};
use crate::screen::SharedScreen;

/// Frames waiting for the writer task; senders wait when it is full (TCP back-pressure).
pub(crate) const WRITER_QUEUE: usize = 256;

/// What other tasks ask of the session task.
#[derive(Debug)]
pub(crate) enum Command {
    Resize {
        width: u16,
        height: u16,
    },
    /// From the cliprdr backend: a step of the clipboard exchange that needs the channel.
    Clipboard(ClipboardMessage),
}

pub(crate) type Writer = mpsc::Sender<Vec<u8>>;

/// Writes frames to the server in the order they were queued, until the connection fails.
pub(crate) async fn run_writer(mut framed: TokioFramed<WriteHalf<RdpStream>>, mut frames: mpsc::Receiver<Vec<u8>>) -> std::io::Result<()> {
    while let Some(frame) = frames.recv().await {
        framed.write_all(&frame).await?;
    }
    Ok(())
}

/// Queues a frame for the server. (A free function: the session task is not `Sync`, a `&self` would not be `Send`.)
async fn send(writer: &Writer, frame: Vec<u8>) -> Result<(), EndReason> {
    if frame.is_empty() {
        return Ok(());
    }
    writer.send(frame).await.map_err(|_| EndReason::ConnectionLost { detail: "writing to the server failed".into() })
}

pub(crate) struct SessionTask {
    pub stage: ActiveStage,
    pub reader: TokioFramed<ReadHalf<RdpStream>>,
    pub writer: Writer,
    pub screen: Arc<SharedScreen>,
    pub hub: Arc<Hub>,
    pub commands: mpsc::UnboundedReceiver<Command>,
    pub stop: Arc<Notify>,
    pub activation: ironrdp_connector::connection_activation::ConnectionActivationFactory,
    pub refresh_rect_support: bool,
    pub suppress_output_support: bool,
}

impl SessionTask {
    pub(crate) fn new(
        result: ConnectionResult,
        reader: TokioFramed<ReadHalf<RdpStream>>,
        writer: Writer,
        screen: Arc<SharedScreen>,
        hub: Arc<Hub>,
        commands: mpsc::UnboundedReceiver<Command>,
        stop: Arc<Notify>,
    ) -> SessionTask {
        let stage = ActiveStageBuilder {
            static_channels: result.static_channels,
            user_channel_id: result.user_channel_id,
            io_channel_id: result.io_channel_id,
            message_channel_id: result.message_channel_id,
            share_id: result.share_id,
            compression_type: result.compression_type,
            enable_server_pointer: result.enable_server_pointer,
            pointer_software_rendering: result.pointer_software_rendering,
        }
        .build();
        SessionTask {
            stage,
            reader,
            writer,
            screen,
            hub,
            commands,
            stop,
            activation: result.activation_factory,
            refresh_rect_support: result.refresh_rect_support,
            suppress_output_support: result.suppress_output_support,
        }
    }

    /// Runs until the session ends and says why.
    pub(crate) async fn run(mut self) -> EndReason {
        let mut housekeeping = tokio::time::interval(Duration::from_secs(5));
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Ask for the whole desktop once: some servers paint only what changes after logon.
        if let Err(reason) = self.request_redraw().await {
            return reason;
        }
        loop {
            let outputs = tokio::select! {
                biased;
                _ = self.stop.notified() => return EndReason::Stopped,
                command = self.commands.recv() => match command {
                    Some(command) => self.handle_command(command),
                    None => return EndReason::Stopped,
                },
                pdu = self.reader.read_pdu() => match pdu {
                    Ok((action, payload)) => {
                        let received = self.reader.last_read_at();
                        let mut screen = self.screen.lock();
                        match self.stage.process(&mut screen.image, action, &payload, received) {
                            Ok(outputs) => {
                                let damage = self.stage.take_damage_regions();
                                if !damage.is_empty() {
                                    screen.damage(&damage);
                                    drop(screen);
                                    self.screen.notify();
                                }
                                Ok(outputs)
                            }
                            Err(e) => Err(EndReason::ConnectionLost { detail: format!("the server sent something undecodable: {e}") }),
                        }
                    }
                    Err(e) => Err(EndReason::ConnectionLost { detail: format!("reading from the server failed: {e}") }),
                },
                _ = housekeeping.tick() => self.clipboard_timeouts(),
            };
            let outputs = match outputs {
                Ok(outputs) => outputs,
                Err(reason) => return reason,
            };
            if let Err(reason) = self.handle_outputs(outputs).await {
                return reason;
            }
            self.publish_resizable();
        }
    }

    async fn handle_outputs(&mut self, outputs: Vec<ActiveStageOutput>) -> Result<(), EndReason> {
        for output in outputs {
            match output {
                ActiveStageOutput::ResponseFrame(frame) => send(&self.writer, frame).await?,
                ActiveStageOutput::Terminate(reason) => return Err(EndReason::ServerEnded { detail: reason.description() }),
                ActiveStageOutput::DeactivateAll => self.reactivate().await?,
                ActiveStageOutput::SaveSessionInfo { logon_complete: true } => self.request_redraw().await?,
                _ => {}
            }
        }
        Ok(())
    }

    fn handle_command(&mut self, command: Command) -> Result<Vec<ActiveStageOutput>, EndReason> {
        match command {
            Command::Resize { width, height } => {
                let (width, height) = MonitorLayoutEntry::adjust_display_size(u32::from(width), u32::from(height));
                match self.stage.encode_resize(width, height, None, None) {
                    Some(Ok(frame)) => Ok(vec![ActiveStageOutput::ResponseFrame(frame)]),
                    // No display control (yet): the desktop message says `resizable: false`.
                    Some(Err(_)) | None => Ok(Vec::new()),
                }
            }
            Command::Clipboard(message) => Ok(self.clipboard_step(message)),
        }
    }

    fn clipboard_step(&mut self, message: ClipboardMessage) -> Vec<ActiveStageOutput> {
        let Some(cliprdr) = self.stage.get_svc_processor_mut::<CliprdrClient>() else {
            return Vec::new();
        };
        let messages = match message {
            ClipboardMessage::SendInitiateCopy(formats) => cliprdr.initiate_copy(&formats),
            ClipboardMessage::SendFormatData(response) => cliprdr.submit_format_data(response),
            ClipboardMessage::SendInitiatePaste(format) => cliprdr.initiate_paste(format),
            _ => return Vec::new(),
        };
        // A clipboard step the channel refuses (not ready yet, a lock) drops that step only.
        match messages.ok().map(|m| self.stage.process_svc_processor_messages(m)) {
            Some(Ok(frame)) => vec![ActiveStageOutput::ResponseFrame(frame)],
            _ => Vec::new(),
        }
    }

    fn clipboard_timeouts(&mut self) -> Result<Vec<ActiveStageOutput>, EndReason> {
        let Some(cliprdr) = self.stage.get_svc_processor_mut::<CliprdrClient>() else {
            return Ok(Vec::new());
        };
        match cliprdr.drive_timeouts().ok().map(|m| self.stage.process_svc_processor_messages(m)) {
            Some(Ok(frame)) => Ok(vec![ActiveStageOutput::ResponseFrame(frame)]),
            _ => Ok(Vec::new()),
        }
    }

    async fn request_redraw(&mut self) -> Result<(), EndReason> {
        let (width, height) = self.screen.lock().size();
        let frames =
            self.stage.request_full_redraw(width, height, self.refresh_rect_support, self.suppress_output_support).unwrap_or_default();
        for frame in frames {
            send(&self.writer, frame).await?;
        }
        Ok(())
    }

    /// The Deactivation-Reactivation sequence: the server changed the desktop (a resize).
    async fn reactivate(&mut self) -> Result<(), EndReason> {
        let mut sequence: ConnectionActivationSequence = self.activation.create();
        let mut buf = WriteBuf::new();
        loop {
            let written = ironrdp_tokio::single_sequence_step_read(&mut self.reader, &mut sequence, &mut buf).await.map_err(|e| {
                EndReason::ConnectionLost { detail: format!("the reactivation after a desktop change failed: {}", e.report()) }
            })?;
            if written.size().is_some() {
                send(&self.writer, buf.filled().to_vec()).await?;
            }
            if let ConnectionActivationState::Finalized {
                desktop_size,
                share_id,
                enable_server_pointer,
                pointer_software_rendering,
                static_channel_chunk_size,
                refresh_rect_support,
                suppress_output_support,
                ..
            } = sequence.connection_activation_state()
            {
                self.stage.reactivate(
                    sequence.io_channel_id(),
                    sequence.user_channel_id(),
                    share_id,
                    enable_server_pointer,
                    pointer_software_rendering,
                    static_channel_chunk_size,
                );
                self.refresh_rect_support = refresh_rect_support;
                self.suppress_output_support = suppress_output_support;
                self.screen.lock().resize(desktop_size.width, desktop_size.height);
                self.screen.notify();
                let resizable = self.hub.desktop().resizable;
                self.hub.set_desktop(DesktopInfo { width: desktop_size.width, height: desktop_size.height, resizable });
                return Ok(());
            }
        }
    }

    /// `resizable` follows the display-control channel becoming ready.
    fn publish_resizable(&mut self) {
        let ready = self.stage.display_control_ready() == Some(true);
        let desktop = self.hub.desktop();
        if desktop.resizable != ready {
            self.hub.set_desktop(DesktopInfo { resizable: ready, ..desktop });
        }
    }
}
