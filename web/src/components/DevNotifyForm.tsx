import { useState } from "react";
import { Alert, Button, MenuItem, Paper, Stack, TextField, Typography } from "@mui/material";
import { sendTestNotification } from "../session";

/** DevNotifyForm sends a test notification to the signed-in user through herald's dev-only endpoint. */
export function DevNotifyForm({ token }: { token: string }) {
  const [title, setTitle] = useState("Hello");
  const [message, setMessage] = useState("A test notification from the dev form");
  const [type, setType] = useState("info");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const send = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await sendTestNotification(token, { title, message, type });
    } catch (err) {
      setError(String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Paper sx={{ p: 2, mb: 2 }} component="form" onSubmit={send} data-testid="dev-form">
      <Typography variant="subtitle2" gutterBottom>
        Send a test notification (dev mode)
      </Typography>
      <Stack direction="row" spacing={1}>
        <TextField size="small" label="Title" value={title} onChange={(e) => setTitle(e.target.value)} slotProps={{ htmlInput: { "data-testid": "dev-title" } }} />
        <TextField size="small" label="Message" value={message} onChange={(e) => setMessage(e.target.value)} sx={{ flexGrow: 1 }} />
        <TextField size="small" select label="Type" value={type} onChange={(e) => setType(e.target.value)} sx={{ minWidth: 110 }}>
          {["info", "success", "warning", "error"].map((t) => (
            <MenuItem key={t} value={t}>
              {t}
            </MenuItem>
          ))}
        </TextField>
        <Button type="submit" variant="contained" disabled={busy} data-testid="dev-send">
          Send
        </Button>
      </Stack>
      {error && <Alert severity="error" sx={{ mt: 1 }}>{error}</Alert>}
    </Paper>
  );
}
