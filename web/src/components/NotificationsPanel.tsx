import { useEffect, useRef } from "react";
import { Badge, Box, Button, Chip, IconButton, List, ListItem, ListItemText, Paper, Stack, Tooltip, Typography } from "@mui/material";
import DeleteIcon from "@mui/icons-material/Delete";
import DoneIcon from "@mui/icons-material/Done";
import { webStorage } from "@herald/client";
import { useNotifications } from "@herald/client/react";
import { devSession, heraldUrl, transports } from "../session";

const CONNECTION_COLOR = { connected: "success", connecting: "warning", disconnected: "error", expired: "error" } as const;

/**
 * NotificationsPanel is the user's feed on @herald/client: live on every
 * tab, infinite scroll through notification:list, mark read, mark all
 * read, delete, and the connection state.
 */
export function NotificationsPanel({ token, dev }: { token: string; dev: boolean }) {
  const feed = useNotifications({
    url: heraldUrl,
    token,
    storage: webStorage(),
    // Cookies and auth headers cross-origin too (herald answers CORS with credentials).
    socketOptions: transports ? { transports, withCredentials: true } : { withCredentials: true },
    // A dev herald hands out fresh dev tokens; a real app asks its own backend.
    refreshToken: dev ? async () => (await devSession())?.token ?? Promise.reject(new Error("no dev session")) : undefined,
    onError: (err) => console.warn("herald:", err.message),
  });

  // Infinite scroll: load the next page when the end of the list shows.
  const end = useRef<HTMLDivElement>(null);
  const { hasMore, loadMore, connection } = feed;
  useEffect(() => {
    const el = end.current;
    if (!el || !hasMore || connection !== "connected") return;
    let busy = false;
    const io = new IntersectionObserver(([e]) => {
      if (e.isIntersecting && !busy) {
        busy = true;
        loadMore().finally(() => (busy = false));
      }
    });
    io.observe(el);
    return () => io.disconnect();
  }, [hasMore, loadMore, connection, feed.notifications.length]);

  return (
    <Paper sx={{ p: 2 }} data-testid="panel">
      <Stack direction="row" spacing={2} sx={{ mb: 1, alignItems: "center" }}>
        <Badge badgeContent={feed.unreadCount} color="error" data-testid="panel-badge">
          <Typography variant="h6">Notifications</Typography>
        </Badge>
        <Box sx={{ flexGrow: 1 }} />
        <Chip size="small" label={feed.connection} color={CONNECTION_COLOR[feed.connection]} data-testid="connection" />
        <Button size="small" onClick={() => feed.markAllRead()} disabled={feed.unreadCount === 0} data-testid="mark-all-read">
          Mark all read
        </Button>
      </Stack>
      <Typography variant="body2" color="text.secondary" data-testid="unread-count" data-count={feed.unreadCount}>
        {feed.unreadCount} unread
      </Typography>
      <List dense sx={{ maxHeight: 480, overflow: "auto" }} data-testid="list">
        {feed.notifications.map((n) => (
          <ListItem
            key={n.id}
            data-testid="notification"
            data-id={n.id}
            data-seq={n.seq}
            data-status={n.status}
            sx={{ bgcolor: n.status === "unread" ? "action.hover" : undefined, borderRadius: 1, mb: 0.5 }}
            secondaryAction={
              <>
                {n.status === "unread" && (
                  <Tooltip title="Mark read">
                    <IconButton edge="end" aria-label="mark read" onClick={() => feed.markRead(n.id)} data-testid="mark-read">
                      <DoneIcon />
                    </IconButton>
                  </Tooltip>
                )}
                <Tooltip title="Delete">
                  <IconButton edge="end" aria-label="delete" onClick={() => feed.remove(n.id)} data-testid="delete">
                    <DeleteIcon />
                  </IconButton>
                </Tooltip>
              </>
            }
          >
            <ListItemText primary={n.title} secondary={`${n.message} · #${n.seq} · ${n.type}`} slotProps={{ primary: { sx: { fontWeight: n.status === "unread" ? 600 : 400 } } }} />
          </ListItem>
        ))}
        <div ref={end} data-testid="list-end" style={{ height: 1 }} />
      </List>
      {!hasMore && feed.notifications.length > 0 && (
        <Typography variant="caption" color="text.secondary" data-testid="list-complete">
          That is all.
        </Typography>
      )}
    </Paper>
  );
}
