import { useEffect, useState } from "react";
import { AppBar, Box, CircularProgress, Container, CssBaseline, Toolbar, Typography } from "@mui/material";
import { AuthContext } from "@/hooks/useAuth";
import { NotificationBell } from "@/components/NotificationBell";
import { NotificationsPanel } from "@/components/NotificationsPanel";
import { DevNotifyForm } from "@/components/DevNotifyForm";
import { loadSession, type Session } from "./session";

export function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  useEffect(() => {
    loadSession().then(setSession);
  }, []);

  if (session === undefined) return <CircularProgress sx={{ m: 4 }} />;
  if (session === null) {
    return (
      <Container sx={{ mt: 4 }} data-testid="signed-out">
        <Typography variant="h6">No token</Typography>
        <Typography>
          Open this page with <code>#token=&lt;jwt&gt;</code> (mint one with <code>herald token --sub USER</code>), or from
          a herald started with <code>--dev</code>.
        </Typography>
      </Container>
    );
  }
  return (
    <AuthContext.Provider value={{ token: session.token }}>
      <CssBaseline />
      <AppBar position="static" color="default">
        <Toolbar>
          <Typography variant="h6" sx={{ flexGrow: 1 }}>
            herald
          </Typography>
          {/* The seed's NotificationBell, unchanged: it has its own socket (the seed's useSocket). */}
          <Box component="span" data-testid="seed-bell">
            <NotificationBell />
          </Box>
        </Toolbar>
      </AppBar>
      <Container maxWidth="sm" sx={{ mt: 2 }}>
        {session.dev && <DevNotifyForm token={session.token} />}
        <NotificationsPanel token={session.token} dev={session.dev} />
      </Container>
    </AuthContext.Provider>
  );
}
